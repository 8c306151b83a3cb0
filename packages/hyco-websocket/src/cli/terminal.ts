/**
 * What the CLI writes, and how: escaped text lines on stdout, complaints
 * on stderr, one JSON object per line for `--json`, colour for a person
 * (stdout a terminal, `NO_COLOR` unset) and a spinner on stderr for waits
 * longer than a second (stderr a terminal).
 */
import { printable } from '../protocol/printable';

// Every line printed may hold values from the network (ids, paths, messages, status texts): escaped, so
// that no peer can forge a line or drive the terminal.
export const out = (line: string): void => {
  process.stdout.write(`${printable(line, Infinity)}\n`);
};

export const complain = (line: string): void => {
  process.stderr.write(`hyco-websocket: ${printable(line, Infinity)}\n`);
};

/**
 * One JSON object on one line of stdout. What JSON.stringify leaves as it
 * is of the unsafe characters (DEL, C1, bidi controls) is escaped too: the
 * line is still JSON, and a terminal shows it safely.
 */
export const outJson = (value: object): void => {
  const text = JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(`${text}\n`);
};

const COLOURS = { green: 32, red: 31, yellow: 33, cyan: 36, dim: 2 } as const;

/** Colour for a person: stdout is a terminal and NO_COLOR is unset (https://no-color.org). */
export function colourOn(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/** `word` in a colour when colour is on (the word is ours, never a network value). */
export function paint(word: string, colour: keyof typeof COLOURS, stream: NodeJS.WriteStream = process.stdout): string {
  return colourOn(stream) ? `\x1b[${COLOURS[colour]}m${word}\x1b[0m` : word;
}

/**
 * One stdout line of parts: a string is escaped (it may hold network
 * values), a `[word, colour]` pair is ours and painted when colour is on.
 */
export const outParts = (...parts: (string | [string, keyof typeof COLOURS])[]): void => {
  process.stdout.write(`${parts.map((p) => (typeof p === 'string' ? printable(p, Infinity) : paint(p[0], p[1]))).join('')}\n`);
};

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A spinner on stderr for a wait (`connecting to ...`), shown only once it
 * has lasted a second and only when stderr is a terminal; the returned
 * function stops it and clears its line. Its timers never keep the
 * process alive.
 */
export function progress(text: string): () => void {
  if (process.stderr.isTTY !== true) return () => {};
  let frame = 0;
  let shown = false;
  let ticker: NodeJS.Timeout | undefined;
  const started = Date.now();
  const draw = () => {
    shown = true;
    const seconds = Math.floor((Date.now() - started) / 1000);
    process.stderr.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${printable(text, Infinity)} (${seconds} s)`);
  };
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, 100);
    ticker.unref();
  }, 1000);
  delay.unref();
  return () => {
    clearTimeout(delay);
    if (ticker) clearInterval(ticker);
    if (shown) process.stderr.write('\r\x1b[2K');
  };
}
