/**
 * The dashboard's icon: a relay (two ends joined) on a green tile, as SVG
 * (`/favicon.svg`, what the page links to) and as a 16×16 ICO drawn from the
 * same shapes (`/favicon.ico`, what browsers ask for on their own). Served
 * to any `Host` and never counted as a refusal: a browser asks for it
 * unprompted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">' +
  '<rect width="16" height="16" rx="3" fill="#107c10"/>' +
  '<circle cx="4" cy="8" r="2.5" fill="#fff"/><circle cx="12" cy="8" r="2.5" fill="#fff"/>' +
  '<rect x="4" y="7" width="8" height="2" fill="#fff"/></svg>\n';

const SIZE = 16;

/** The colour of the icon at pixel (x, y), as [blue, green, red, alpha]: the SVG's shapes, sampled at pixel centres. */
function pixel(x: number, y: number): [number, number, number, number] {
  const px = x + 0.5;
  const py = y + 0.5;
  const inCircle = (cx: number) => (px - cx) ** 2 + (py - 8) ** 2 <= 2.5 ** 2;
  if (inCircle(4) || inCircle(12) || (px >= 4 && px <= 12 && py >= 7 && py <= 9)) return [0xff, 0xff, 0xff, 0xff];
  // The tile, with corners of radius 3.
  const cx = Math.min(Math.max(px, 3), 13);
  const cy = Math.min(Math.max(py, 3), 13);
  if ((px - cx) ** 2 + (py - cy) ** 2 <= 9) return [0x10, 0x7c, 0x10, 0xff];
  return [0, 0, 0, 0];
}

/** The ICO: one 32-bit image (a BMP without its file header, rows bottom-up, then an all-zero AND mask). */
function drawIco(): Buffer {
  const pixels = SIZE * SIZE * 4;
  const mask = SIZE * 4; // 16 bits a row, padded to 32
  const image = Buffer.alloc(40 + pixels + mask);
  image.writeUInt32LE(40, 0); // BITMAPINFOHEADER
  image.writeInt32LE(SIZE, 4);
  image.writeInt32LE(SIZE * 2, 8); // the image and its mask
  image.writeUInt16LE(1, 12);
  image.writeUInt16LE(32, 14);
  image.writeUInt32LE(pixels + mask, 20);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) Buffer.from(pixel(x, y)).copy(image, 40 + ((SIZE - 1 - y) * SIZE + x) * 4);
  }
  const header = Buffer.alloc(6 + 16);
  header.writeUInt16LE(1, 2); // type: icon
  header.writeUInt16LE(1, 4); // one image
  header[6] = SIZE;
  header[7] = SIZE;
  header.writeUInt16LE(1, 10); // planes
  header.writeUInt16LE(32, 12); // bits per pixel
  header.writeUInt32LE(image.length, 14);
  header.writeUInt32LE(header.length, 18);
  return Buffer.concat([header, image]);
}

export const FAVICON_ICO = drawIco();

/** The icon paths. */
export const FAVICON_PATHS = new Set(['/favicon.ico', '/favicon.svg']);

/** Answers `/favicon.ico` or `/favicon.svg` (GET or HEAD). */
export function answerFavicon(req: IncomingMessage, res: ServerResponse, path: string): void {
  req.resume();
  const svg = path === '/favicon.svg';
  const body = svg ? Buffer.from(FAVICON_SVG) : FAVICON_ICO;
  res.writeHead(200, { 'Content-Type': svg ? 'image/svg+xml' : 'image/x-icon', 'Content-Length': body.length, 'Cache-Control': 'public, max-age=86400' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
