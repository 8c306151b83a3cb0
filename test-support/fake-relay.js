'use strict';
// A scripted fake relay on loopback, for tests that must play the service
// in ways the emulator never would: send a request and drop the channel
// before its body, stall, answer rendezvous with raw frames, count frames.
// It records what every sender and HTTP request got, for invariants.
const http = require('node:http');
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const { WebSocketServer } = require('ws');
const { FrameReader, switchingProtocolsHead } = require('./raw');


function serverFrame(opcode, payload, fin = true) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, len]) : len < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    if (len < 0x10000) {
      head[1] = 126;
      head.writeUInt16BE(len, 2);
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
  }
  return Buffer.concat([head, payload]);
}

function switchingProtocols(socket, req) {
  socket.write(switchingProtocolsHead(req));
}

/**
 * Events: `channel` (ws) for each control channel opened, `answer` (id, answer)
 * when a sender is accepted or rejected, `response` (id, response) when an
 * HTTP response is complete.
 */
class FakeRelay extends EventEmitter {
  static async start() {
    const relay = new FakeRelay();
    await new Promise((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.endpoint = `ws://127.0.0.1:${relay.server.address().port}`;
    return relay;
  }

  constructor() {
    super();
    this.server = http.createServer((req, res) => res.writeHead(404).end());
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, autoPong: true });
    this.sockets = new Set();
    /** Control channels, newest last. */
    this.channels = [];
    /** What each sender got: id -> [{ kind: 'accepted' | 'rejected', status? }]. */
    this.answers = new Map();
    /** HTTP responses by request id: { statusCode, headers, body, frames, complete }. */
    this.responses = new Map();
    /** Requests (address-only) waiting for their rendezvous: id -> { message, body }. */
    this.pendingRequests = new Map();
    /** Pings received on control channels. */
    this.pings = 0;
    /** Tokens sent with renewToken. */
    this.renewals = [];
    /** When set, a ping on a control channel closes it with this code. */
    this.closeOnPing = undefined;
    /** When true, accept rendezvous are not answered until release(id). */
    this.holdAccepts = false;
    this.held = new Map();
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  /** The open control channel, if any (the newest, unless it is stalled). */
  get channel() {
    const last = this.channels.at(-1);
    return last && last.readyState === last.OPEN && !last.stalled ? last : undefined;
  }

  /** Resolves with the next control channel to open (or the open one when `fresh` is false). */
  nextChannel(fresh = true) {
    if (!fresh && this.channel) return Promise.resolve(this.channel);
    return new Promise((resolve) => this.once('channel', resolve));
  }

  listenUri(path = 'fake') {
    return `${this.endpoint}/$hc/${path}?sb-hc-action=listen`;
  }

  onUpgrade(req, socket, head) {
    const url = new URL(req.url, 'http://fake');
    const action = url.searchParams.get('sb-hc-action');
    if (action === 'listen') {
      if (this.refuseListen) {
        socket.end(`HTTP/1.1 ${this.refuseListen} Refused\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        ws.on('ping', () => {
          this.pings++;
          // As one user saw the service do: a ping closes the channel.
          if (this.closeOnPing !== undefined) ws.close(this.closeOnPing, 'No pings here');
        });
        // Inline responses and renewals the listener sends on the channel.
        let bodyFor;
        ws.on('message', (data, isBinary) => {
          if (isBinary) {
            const record = bodyFor;
            bodyFor = undefined;
            if (!record) return;
            record.body.push(data);
            record.frames++;
            record.complete = true;
            this.emit('response', record.id, record);
            return;
          }
          let message;
          try {
            message = JSON.parse(data.toString());
          } catch {
            return;
          }
          if (message.renewToken) this.renewals.push(message.renewToken.token);
          if (!message.response) return;
          const { requestId, statusCode, responseHeaders, body } = message.response;
          const record = { id: requestId, statusCode, headers: responseHeaders, body: [], frames: 0, complete: !body, cut: false, inline: true };
          this.responses.set(requestId, record);
          if (body) bodyFor = record;
          else this.emit('response', requestId, record);
        });
        this.channels.push(ws);
        this.emit('channel', ws);
      });
      return;
    }
    const id = url.searchParams.get('sb-hc-id') ?? '';
    if (action === 'accept') {
      const status = url.searchParams.get('sb-hc-statusCode');
      const answers = this.answers.get(id) ?? [];
      this.answers.set(id, answers);
      if (status !== null) {
        answers.push({ kind: 'rejected', status: Number(status) });
        socket.end('HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n');
      } else {
        // A listener that hangs up its rendezvous before the 101 has abandoned the accept.
        socket.on('end', () => socket.destroy());
        const join = () => {
          if (socket.destroyed || socket.readableEnded) return;
          answers.push({ kind: 'accepted' });
          switchingProtocols(socket, req);
          // The joined sender goes away at once: the listener sees a close.
          socket.end(serverFrame(0x8, Buffer.from([0x03, 0xe9])));
          this.emit('answer', id, answers.at(-1));
        };
        // With holdAccepts, an accept waits (as on a slow path) until release(id).
        if (this.holdAccepts) this.held.set(id, join);
        else join();
        return;
      }
      this.emit('answer', id, answers.at(-1));
      return;
    }
    if (action === 'request') {
      this.onHttpRendezvous(id, req, socket, head);
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  }

  onHttpRendezvous(id, req, socket, head) {
    switchingProtocols(socket, req);
    const pending = this.pendingRequests.get(id);
    this.pendingRequests.delete(id);
    if (pending) {
      socket.write(serverFrame(0x1, Buffer.from(JSON.stringify({ request: pending.message }))));
      if (pending.body) socket.write(serverFrame(0x2, pending.body));
    }
    const reader = new FrameReader(socket, head, { masked: true });
    const record = { id, statusCode: undefined, headers: undefined, body: [], frames: 0, complete: false, cut: false, inline: false };
    let inBody = false;
    const onFrame = (frame) => {
      if (frame.opcode === 0x8) {
        socket.end(serverFrame(0x8, frame.payload.subarray(0, 2)));
        return;
      }
      if (frame.opcode === 0x9 || frame.opcode === 0xa) return;
      if (!inBody) {
        const message = JSON.parse(frame.payload.toString());
        if (!message.response) return;
        record.statusCode = message.response.statusCode;
        record.headers = message.response.responseHeaders;
        this.responses.set(message.response.requestId, record);
        if (!message.response.body) {
          record.complete = true;
          this.emit('response', message.response.requestId, record);
        } else inBody = true;
        return;
      }
      record.frames++;
      record.body.push(frame.payload);
      if (frame.fin) {
        record.complete = true;
        this.emit('response', id, record);
      }
    };
    const pump = () => {
      while (reader.frames.length) onFrame(reader.frames.shift());
    };
    socket.on('data', () => setImmediate(pump));
    socket.on('close', () => {
      pump();
      if (!record.complete) record.cut = true;
    });
    setImmediate(pump);
  }

  /** Offers a sender to the listener; `id` names it in `answers`. */
  sendAccept(id, { headers = {}, path = 'fake', query = '' } = {}) {
    const connectHeaders = { Host: 'fake', 'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'), 'Sec-WebSocket-Version': '13', ...headers };
    const address = `${this.endpoint}/$hc/${path}${query ? `?${query}&` : '?'}sb-hc-action=accept&sb-hc-id=${encodeURIComponent(id)}`;
    this.channel.send(JSON.stringify({ accept: { address, id, connectHeaders, remoteEndpoint: { address: '127.0.0.1', port: 1 } } }));
  }

  /**
   * Sends an HTTP request: inline (message, then `body` as the next binary
   * message unless `withholdBody`), or address-only (`viaRendezvous`), the
   * request and body then going over the rendezvous.
   */
  sendRequest(id, { method = 'GET', target = '/fake/', headers = {}, body, viaRendezvous = false, withholdBody = false, channel = this.channel } = {}) {
    const address = `${this.endpoint}/$hc/fake?sb-hc-action=request&sb-hc-id=${encodeURIComponent(id)}`;
    const message = { address, id, method, requestTarget: target, requestHeaders: headers, body: body !== undefined };
    if (viaRendezvous) {
      this.pendingRequests.set(id, { message, body });
      channel.send(JSON.stringify({ request: { address, id } }));
      return;
    }
    channel.send(JSON.stringify({ request: message }));
    if (body !== undefined && !withholdBody) channel.send(body, { binary: true });
  }

  /** Answers a held accept rendezvous (101): the accept completes now. */
  release(id) {
    const join = this.held.get(id);
    this.held.delete(id);
    join?.();
  }

  /** Drops the open control channel: 'close' (with `code`), 'destroy', or 'stall' (stop reading). */
  drop(mode = 'destroy', code = 1011) {
    const ws = this.channel;
    if (!ws) return;
    if (mode === 'close') ws.close(code, 'Fault injected by the fake relay');
    else if (mode === 'stall') {
      ws.stalled = true;
      ws._socket.pause();
    }
    else ws.terminate();
  }

  async close() {
    for (const ws of this.channels) ws.terminate();
    for (const socket of this.sockets) socket.destroy();
    this.wss.close();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { FakeRelay };
