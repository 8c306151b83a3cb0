/**
 * `sb-hc-action=request`: the rendezvous a listener opens for one HTTP
 * request. The relay answers the handshake itself and speaks WebSocket on
 * the raw socket, so that nothing is held whole: the request and its body
 * go out as they arrive from the HTTP client (one binary message, in
 * fragments), and the listener's response body reaches the HTTP client
 * frame by frame, with backpressure both ways and no limit on size or on
 * the number of fragments. A body cut on either side is seen as cut: the
 * listener's rendezvous, or the HTTP client's connection, is aborted.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseListenerMessage } from 'hyco-websocket/protocol';
import type { RelayContext } from './context';
import {
  CLOSE_INTERNAL_ERROR,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TOO_BIG,
  FrameParser,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  ProtocolViolation,
  closeFrame,
  serverFrame,
} from './frames';
import type { FrameHeader } from './frames';
import { upgradeProblem, writeSwitchingProtocols } from './handshake';
import type { ExchangeOwner, HttpExchange } from './http-exchange';
import { PARAM_RENDEZVOUS } from './rendezvous';
import type { RequestTarget } from './request-target';
import { safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:http');

/** The largest response message (JSON, with its headers) a listener may send, bytes. */
const MAX_RESPONSE_MESSAGE = 96 * 1024;

/** How long a listener has to finish closing before its socket is destroyed, ms. */
const CLOSE_GRACE_MS = 2000;

export function handleHttpRendezvous(
  ctx: RelayContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: RequestTarget,
  onListenerError: (exchange: HttpExchange, detail: string) => void,
): void {
  const problem = upgradeProblem(req);
  if (problem) {
    ctx.refuse(socket, 400, `BadRequest: ${problem}`, target, target.rawPath);
    return;
  }
  const exchange = ctx.http.takeBySecret(target.query.get(PARAM_RENDEZVOUS));
  if (!exchange) {
    ctx.refuse(socket, 403, 'RendezvousFailed: the address is invalid, used or expired', target, target.rawPath);
    return;
  }
  exchange.rendezvousAttached = true;
  socket.pause();
  writeSwitchingProtocols(socket, req);
  new HttpRendezvous(socket, exchange, onListenerError).start(head);
}

/** What the data message being received is. */
type Incoming = 'response' | 'body' | 'ignored';

class HttpRendezvous extends FrameParser implements ExchangeOwner {
  /** `head`: awaiting the response message; `body`: its body; `done`: answered. */
  private phase: 'head' | 'body' | 'done' = 'head';
  private incoming: Incoming = 'ignored';
  private text: Buffer[] = [];
  private textLength = 0;
  private control: Buffer[] = [];
  private currentIsControl = false;
  private closing = false;
  /** Reading is paused until the HTTP client drains (one wait, however many frames the chunk held). */
  private awaitingDrain = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Duplex,
    private readonly exchange: HttpExchange,
    private readonly onListenerError: (exchange: HttpExchange, detail: string) => void,
  ) {
    super();
  }

  start(head: Buffer): void {
    const { socket, exchange } = this;
    exchange.ownedBy(this);
    exchange.onClientGone = () => socket.destroy();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => debug('HTTP rendezvous error: %s', err.message));
    // The relay's sockets are half-open capable: a listener's FIN ends the rendezvous too.
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      if (this.graceTimer) clearTimeout(this.graceTimer);
      if (!exchange.done) exchange.abort('the listener closed the rendezvous before its response ended');
    });
    if (!exchange.delivered) this.deliverRequest();
    if (head.length) this.onData(head);
    socket.resume();
  }

  /** The exchange ended (answered, timed out, client gone, relay closing): a rendezvous still in use is cut. */
  release(): void {
    if (this.phase !== 'done') this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    try {
      this.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolViolation) {
        debug('HTTP rendezvous for %s broke the protocol: %s', this.exchange.id, err.message);
        this.close(err.closeCode, err.message);
      } else {
        debug('HTTP rendezvous for %s failed: %s', this.exchange.id, (err as Error)?.message ?? String(err));
        this.close(CLOSE_INTERNAL_ERROR, 'The relay failed to handle this response');
      }
      this.phase = 'done';
      this.exchange.abort('the listener\'s rendezvous failed');
    }
  }

  protected onFrame(header: FrameHeader): void {
    this.currentIsControl = header.opcode >= OP_CLOSE;
    if (this.currentIsControl) {
      this.control = [];
      return;
    }
    if (header.opcode !== OP_CONTINUATION) {
      // A new data message: the response first, then its body; anything after is ignored.
      this.incoming = this.phase === 'head' ? 'response' : this.phase === 'body' ? 'body' : 'ignored';
      this.text = [];
      this.textLength = 0;
    }
  }

  protected onPayload(slice: Buffer): void {
    if (this.currentIsControl) {
      this.control.push(Buffer.from(slice));
      return;
    }
    if (this.incoming === 'response') {
      this.textLength += slice.length;
      if (this.textLength > MAX_RESPONSE_MESSAGE) throw new ProtocolViolation(CLOSE_TOO_BIG, 'The response message is too large');
      this.text.push(Buffer.from(slice));
    } else if (this.incoming === 'body') {
      if (!this.exchange.write(slice)) {
        // The HTTP client is slower than the listener: stop reading until it drains.
        this.socket.pause();
        if (!this.awaitingDrain) {
          this.awaitingDrain = true;
          this.exchange.res.once('drain', () => {
            this.awaitingDrain = false;
            this.socket.resume();
          });
        }
      }
    }
  }

  protected onFrameEnd(header: FrameHeader): void {
    this.currentIsControl = false;
    if (header.opcode === OP_PING) this.socket.write(serverFrame(OP_PONG, Buffer.concat(this.control)));
    else if (header.opcode === OP_CLOSE) this.onClose(Buffer.concat(this.control));
    else if (header.opcode !== OP_PONG && header.fin) this.onMessageEnd();
  }

  private onMessageEnd(): void {
    const incoming = this.incoming;
    this.incoming = 'ignored';
    if (incoming === 'body') {
      this.phase = 'done';
      this.exchange.end();
      return;
    }
    if (incoming !== 'response') return;
    let message;
    try {
      message = parseListenerMessage(Buffer.concat(this.text).toString('utf8'));
    } catch (err) {
      this.refuseResponse((err as Error).message);
      return;
    }
    if (!('response' in message) || message.response.requestId !== this.exchange.id) {
      this.refuseResponse('Expected a response to this request');
      return;
    }
    // The exchange may end inside respond() (no body, or refused): this rendezvous has then done its part.
    this.phase = 'done';
    const problem = this.exchange.respond(message.response);
    if (problem !== undefined) {
      this.onListenerError(this.exchange, problem);
      this.close(CLOSE_POLICY_VIOLATION, `Response refused: ${problem}`);
      return;
    }
    if (message.response.body === true && !this.exchange.done) this.phase = 'body';
  }

  private refuseResponse(why: string): void {
    this.phase = 'done';
    this.exchange.abort(`the listener sent no valid response (${why})`);
    this.onListenerError(this.exchange, why);
    this.close(CLOSE_POLICY_VIOLATION, why);
  }

  /** The listener closes: answered in kind; a response not yet complete is cut. */
  private onClose(payload: Buffer): void {
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : CLOSE_NORMAL;
    if (this.phase !== 'done') {
      this.phase = 'done';
      this.exchange.abort('the listener closed the rendezvous before its response ended');
    }
    this.close(isValidCloseCode(code) ? code : CLOSE_NORMAL, '');
  }

  private close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    if (this.socket.writable) this.socket.end(closeFrame(code, reason));
    this.graceTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
  }

  /** Sends the request message, then streams the request body as one fragmented binary message. */
  private deliverRequest(): void {
    const { exchange, socket } = this;
    const req = exchange.req;
    exchange.delivered = true;
    const hasBody = Boolean(req.headers['transfer-encoding']) || Number(req.headers['content-length'] ?? 0) > 0;
    const message = { request: { address: exchange.address, id: exchange.id, ...exchange.message, body: hasBody } };
    socket.write(serverFrame(OP_TEXT, Buffer.from(JSON.stringify(message), 'utf8')));
    if (!hasBody) return;
    let first = true;
    let ended = false;
    req.on('data', (chunk: Buffer) => {
      if (socket.destroyed || this.closing) return;
      exchange.observer?.requestBody(chunk);
      const more = socket.write(serverFrame(first ? OP_BINARY : OP_CONTINUATION, chunk, false));
      first = false;
      if (!more) {
        req.pause();
        socket.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      ended = true;
      if (!socket.destroyed && !this.closing) socket.write(serverFrame(first ? OP_BINARY : OP_CONTINUATION, Buffer.alloc(0), true));
    });
    req.on('error', (err) => debug('request body error: %s', err.message));
    req.on('close', () => {
      // The HTTP client hung up mid-body: the listener must see the body as cut, not ended.
      if (!ended) socket.destroy();
    });
  }
}

/** Close codes a peer may send (RFC 6455 section 7.4). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}
