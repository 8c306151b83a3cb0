'use strict';
// The forwarding preamble, reply and datagram framing as bytes: parsed
// however the relay's messages split them (properties, seeded and
// bounded), and the listener's choice of binding for a port name.
const test = require('node:test');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const { checkProperty } = require('hyco-test-support');
const preamble = require('../dist/forward/preamble.js');
const { DatagramReader, encodeDatagram } = require('../dist/forward/datagrams.js');
const { chooseBinding, resolveRemoteBinding } = require('../dist/forward/bindings.js');

/** Splits `bytes` at the given cut points (sorted, deduplicated) into chunks. */
function split(bytes, cuts) {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Pushes `wire`, cut at `cuts`, into `reader` until it has a result: that result, and every byte after it. */
function readSplit(reader, wire, cuts) {
  let result;
  const after = [];
  for (const chunk of split(wire, cuts)) {
    if (result) after.push(chunk);
    else {
      const r = reader.push(chunk);
      if (r.kind !== 'more') {
        result = r;
        after.push(r.rest);
      }
    }
  }
  return { result, after };
}

const portNames = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('22', '8888U', '/var/run/postgresql/.s.PGSQL.5432', 'ü'.repeat(127), 'x'.repeat(255)));

test('encodePreamble writes azbridge\'s two messages: [1, 0, mode, n] and the UTF-8 name', () => {
  const [head, name] = preamble.encodePreamble(preamble.MODE_STREAM, 'ssh');
  assert.deepEqual([...head], [1, 0, 0, 3]);
  assert.equal(name.toString(), 'ssh');
  const [udpHead, udpName] = preamble.encodePreamble(preamble.MODE_DATAGRAM, 'dnsü');
  assert.deepEqual([...udpHead], [1, 0, 1, 5]);
  assert.equal(udpName.length, 5);
  assert.throws(() => preamble.encodePreamble(0, ''), /must not be empty/);
  assert.throws(() => preamble.encodePreamble(0, 'ü'.repeat(128)), /at most 255 bytes/);
});

test('property: the preamble is read whole however it is split, and what follows it is handed back as data', async () => {
  await checkProperty(
    fc.property(portNames.filter((n) => Buffer.byteLength(n) <= 255), fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(400), { maxLength: 12 }), (name, mode, data, cuts) => {
      const [head, nameBytes] = preamble.encodePreamble(mode, name);
      const wire = Buffer.concat([head, nameBytes, Buffer.from(data)]);
      const reader = new preamble.PreambleReader();
      const { result, after } = readSplit(reader, wire, cuts);
      assert.equal(result?.kind, 'preamble');
      assert.equal(result.mode, mode);
      assert.equal(result.portName, Buffer.from(name, 'utf8').toString('utf8'));
      assert.deepEqual(Buffer.concat(after), Buffer.from(data));
    }),
    { defaultSeed: 2201, numRuns: 300 },
  );
});

test('property: a preamble of another version is answered after its third byte, whatever comes after', async () => {
  await checkProperty(
    fc.property(fc.uint8Array({ minLength: 3, maxLength: 30 }), fc.array(fc.nat(40), { maxLength: 6 }), (bytes, cuts) => {
      const wire = Buffer.from(bytes);
      const valid = wire[0] === 1 && wire[1] === 0 && (wire[2] === 0 || wire[2] === 1);
      const reader = new preamble.PreambleReader();
      let result = { kind: 'more' };
      for (const chunk of split(wire, cuts)) {
        result = reader.push(chunk);
        if (result.kind !== 'more') break;
      }
      if (valid) assert.notEqual(result.kind, 'unsupported');
      else {
        assert.equal(result.kind, 'unsupported');
        assert.deepEqual(result.version, wire.subarray(0, 3));
      }
    }),
    { defaultSeed: 2202, numRuns: 300 },
  );
});

test('property: the 3-byte reply is read however it is split; only exactly [1, 0, mode] accepts', async () => {
  await checkProperty(
    fc.property(fc.constantFrom(0, 1), fc.oneof(fc.constantFrom([1, 0, 0], [1, 0, 1], [0, 0, 0], [0, 0, 1], [0, 0, 255]), fc.array(fc.nat(255), { minLength: 3, maxLength: 3 })), fc.uint8Array({ maxLength: 20 }), fc.array(fc.nat(30), { maxLength: 5 }), (mode, reply, data, cuts) => {
      const wire = Buffer.concat([Buffer.from(reply), Buffer.from(data)]);
      const reader = new preamble.ReplyReader(mode);
      const { result, after } = readSplit(reader, wire, cuts);
      assert.equal(result.kind, 'reply');
      assert.deepEqual([...result.reply], reply);
      assert.equal(result.accepted, reply[0] === 1 && reply[1] === 0 && reply[2] === mode);
      assert.deepEqual(Buffer.concat(after), Buffer.from(data));
    }),
    { defaultSeed: 2203, numRuns: 300 },
  );
});

test('the replies and what they say', () => {
  assert.deepEqual([...preamble.acceptedReply(0)], [1, 0, 0]);
  assert.deepEqual([...preamble.acceptedReply(1)], [1, 0, 1]);
  assert.deepEqual([...preamble.REPLY_VERSION_NOT_UNDERSTOOD], [0, 0, 0]);
  assert.deepEqual([...preamble.REPLY_BINDING_IS_DATAGRAM], [0, 0, 1]);
  assert.deepEqual([...preamble.REPLY_BINDING_IS_STREAM], [0, 0, 255]);
  assert.match(preamble.describeReply(Buffer.from([0, 0, 0])), /does not understand/);
  assert.match(preamble.describeReply(Buffer.from([0, 0, 1])), /UDP binding/);
  assert.match(preamble.describeReply(Buffer.from([0, 0, 255])), /TCP binding/);
});

test('property: datagrams are read one by one however their messages are split or joined', async () => {
  await checkProperty(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), fc.array(fc.nat(4000), { maxLength: 10 }), (datagrams, cuts) => {
      const wire = Buffer.concat(datagrams.map((d) => encodeDatagram(Buffer.from(d))));
      const reader = new DatagramReader();
      const got = split(wire, cuts).flatMap((chunk) => reader.push(chunk).map((d) => Buffer.from(d)));
      assert.deepEqual(got, datagrams.map((d) => Buffer.from(d)));
      assert.equal(reader.buffered, 0);
    }),
    { defaultSeed: 2204, numRuns: 200 },
  );
});

test('a datagram is one message: a 2-byte big-endian length, then the payload', () => {
  assert.deepEqual([...encodeDatagram(Buffer.from([9, 8, 7]))], [0, 3, 9, 8, 7]);
  assert.deepEqual([...encodeDatagram(Buffer.alloc(0))], [0, 0]);
  assert.equal(encodeDatagram(Buffer.alloc(0xffff)).readUInt16BE(0), 0xffff);
  assert.throws(() => encodeDatagram(Buffer.alloc(0x10000)), (err) => err.code === 'ERR_HYCO_FORWARD_PROTOCOL');
  // At most one record is ever held.
  const reader = new DatagramReader();
  assert.deepEqual(reader.push(Buffer.from([0xff, 0xff, 1, 2])), []);
  assert.equal(reader.buffered, 4);
});

test('choosing a binding: exact, case-sensitive names; the single-binding numeric rule; the two mismatches', () => {
  const ssh = resolveRemoteBinding({ hostPort: 22, portName: 'ssh' }, 'b');
  const dns = resolveRemoteBinding({ hostPort: 53, protocol: 'udp' }, 'b');
  const web = resolveRemoteBinding({ hostPort: 80 }, 'b');
  assert.equal(dns.portName, '53U', 'UDP default port name');
  assert.equal(web.portName, '80');
  const both = [ssh, dns, web];
  assert.equal(chooseBinding(both, 'ssh', 0).binding, ssh);
  assert.equal(chooseBinding(both, 'SSH', 0).kind, 'unknown', 'case-sensitive');
  assert.equal(chooseBinding(both, '80', 0).binding, web);
  assert.equal(chooseBinding(both, '22', 0).kind, 'unknown', 'with several bindings a number is a name like any other');
  assert.deepEqual([...chooseBinding(both, '53U', 0).reply], [0, 0, 1], 'stream asked of a UDP binding');
  assert.deepEqual([...chooseBinding(both, 'ssh', 1).reply], [0, 0, 255], 'datagrams asked of a TCP binding');
  // One binding: any number picks it (as .NET's int.TryParse reads numbers), names still must match.
  for (const number of ['2222', '0', '-5', ' 7 ', '+12', '2147483647']) assert.equal(chooseBinding([ssh], number, 0).binding, ssh, number);
  for (const other of ['2222U', '2147483648', '1.5', '', 'x1']) assert.equal(chooseBinding([ssh], other, 0).kind, 'unknown', other);
  assert.deepEqual([...chooseBinding([dns], '9999', 0).reply], [0, 0, 1], 'the numeric rule still checks the kind');
});
