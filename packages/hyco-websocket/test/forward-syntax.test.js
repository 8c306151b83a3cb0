'use strict';
// azbridge's forwarding syntax: -L, -T and -H expressions, and its YAML
// configuration file, read into bindings; every error names what is wrong
// (and never quotes a secret).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseLocalForwardSpec, parseRemoteForwardSpec, parseHttpForwardSpec, parseForwardConfig, loadForwardConfig } = require('../dist/forward/index.js');

const invalid = (pattern) => (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && pattern.test(err.message);
const badConfig = (pattern) => (err) => err.code === 'ERR_HYCO_INVALID_CONFIG' && pattern.test(err.message);

test('-L: [bind_address:]port[/port_name]{;...}:relay_name, UDP with U, Unix sockets, IPv6 in brackets', () => {
  assert.deepEqual(parseLocalForwardSpec('2222:ssh'), { relayName: 'ssh', bindings: [{ bindPort: 2222 }] });
  assert.deepEqual(parseLocalForwardSpec('127.0.0.2:2222/ssh;5353U/dns;0.0.0.0:8080:relay'), {
    relayName: 'relay',
    bindings: [
      { bindAddress: '127.0.0.2', bindPort: 2222, portName: 'ssh' },
      { bindPort: 5353, protocol: 'udp', portName: 'dns' },
      { bindAddress: '0.0.0.0', bindPort: 8080 },
    ],
  });
  assert.deepEqual(parseLocalForwardSpec('[::1]:2222/ssh:r').bindings, [{ bindAddress: '::1', bindPort: 2222, portName: 'ssh' }]);
  assert.deepEqual(parseLocalForwardSpec('mysock/pg:db').bindings, [{ bindLocalSocket: 'mysock', portName: 'pg' }], 'azbridge: a relative socket name');
  assert.deepEqual(parseLocalForwardSpec('/tmp/pg.sock:db').bindings, [{ bindLocalSocket: '/tmp/pg.sock' }], 'an absolute path, whole');
  assert.deepEqual(parseLocalForwardSpec('/tmp/pg.sock//pg:db').bindings, [{ bindLocalSocket: '/tmp/pg.sock', portName: 'pg' }], 'a path, then // and its port name');
  assert.throws(() => parseLocalForwardSpec('2222'), invalid(/no ":relay_name"/));
  assert.throws(() => parseLocalForwardSpec(':ssh'), invalid(/names no port/));
  assert.throws(() => parseLocalForwardSpec('1:2:3:ssh'), invalid(/more than one ":"/));
  assert.throws(() => parseLocalForwardSpec('host:http:ssh'), invalid(/"http" is not a port number/));
  assert.throws(() => parseLocalForwardSpec('70000:ssh'), invalid(/"70000" is not a port number/));
  assert.throws(() => parseLocalForwardSpec('22;;23:ssh'), invalid(/empty binding/));
  assert.throws(() => parseLocalForwardSpec('22/:ssh'), invalid(/empty port name/));
  assert.throws(() => parseLocalForwardSpec('22:bad name'), invalid(/relay name/));
});

test('-T: relay_name:[port_name/][host:]hostport{;...}, UDP with U, Unix sockets, IPv6 in brackets', () => {
  assert.deepEqual(parseRemoteForwardSpec('ssh:22'), { relayName: 'ssh', bindings: [{ hostPort: 22 }] });
  assert.deepEqual(parseRemoteForwardSpec('relay:ssh/10.0.0.5:22;dns/53U;web/8080;db.internal:5432'), {
    relayName: 'relay',
    bindings: [
      { portName: 'ssh', host: '10.0.0.5', hostPort: 22 },
      { portName: 'dns', hostPort: 53, protocol: 'udp' },
      { portName: 'web', hostPort: 8080 },
      { host: 'db.internal', hostPort: 5432 },
    ],
  });
  assert.deepEqual(parseRemoteForwardSpec('r:ssh/[::1]:22').bindings, [{ portName: 'ssh', host: '::1', hostPort: 22 }]);
  assert.deepEqual(parseRemoteForwardSpec('r:[::1]:22').bindings, [{ host: '::1', hostPort: 22 }]);
  assert.deepEqual(parseRemoteForwardSpec('db:pg/mysock').bindings, [{ portName: 'pg', localSocket: 'mysock' }], 'azbridge: a relative socket name');
  assert.deepEqual(parseRemoteForwardSpec('db:/var/run/postgresql/.s.PGSQL.5432').bindings, [{ localSocket: '/var/run/postgresql/.s.PGSQL.5432' }]);
  assert.deepEqual(parseRemoteForwardSpec('db:pg//var/run/x.sock').bindings, [{ portName: 'pg', localSocket: '/var/run/x.sock' }], 'a port name, then // and the absolute path');
  assert.throws(() => parseRemoteForwardSpec('ssh'), invalid(/no "relay_name:"/));
  assert.throws(() => parseRemoteForwardSpec('ssh:'), invalid(/names no target/));
  assert.throws(() => parseRemoteForwardSpec('ssh:host:abc'), invalid(/"abc" is not a port number/));
  assert.throws(() => parseRemoteForwardSpec('ssh:host:0'), invalid(/1 to 65535/));
  assert.throws(() => parseRemoteForwardSpec('ssh:a:b:c'), invalid(/more than one ":"/));
  assert.throws(() => parseRemoteForwardSpec('ssh:99999'), invalid(/"99999" is not a port number/));
});

test('-H: relay_name:{http|https}/[host[/path]:]hostport', () => {
  assert.deepEqual(parseHttpForwardSpec('web:http/localhost:3000'), { relayName: 'web', origin: 'http://localhost:3000/' });
  assert.deepEqual(parseHttpForwardSpec('web:http/3000'), { relayName: 'web', origin: 'http://localhost:3000/' });
  assert.deepEqual(parseHttpForwardSpec('web:https/example.com/base/api:8443'), { relayName: 'web', origin: 'https://example.com:8443/base/api/' });
  assert.deepEqual(parseHttpForwardSpec('web:https/example.com'), { relayName: 'web', origin: 'https://example.com:443/' });
  assert.throws(() => parseHttpForwardSpec('web:ftp/x:21'), invalid(/http\/\[host\[\/path\]:\]port/));
  assert.throws(() => parseHttpForwardSpec('web'), invalid(/no "relay_name:"/));
});

test('the YAML configuration: azbridge\'s keys, negative ports for UDP, the single-binding shorthand, HTTP bindings', () => {
  const config = parseForwardConfig(`
AzureRelayConnectionString: "Endpoint=sb://ns.example/;SharedAccessKeyName=R;SharedAccessKey=c2VjcmV0"
LocalForward:
  - RelayName: db
    Bindings:
      - BindAddress: 127.0.0.1
        BindPort: 5432
        PortName: pg
      - BindPort: -5353
      - BindLocalSocket: /tmp/x.sock
        PortName: x
  - RelayName: ssh
    BindPort: 2222
RemoteForward:
  - RelayName: db
    Bindings:
      - { Host: localhost, HostPort: 5432, PortName: pg }
      - { HostPort: -53, PortName: 53U }
      - { LocalSocket: /var/run/x.sock, PortName: x }
  - RelayName: web
    Bindings:
      - { Http: true, Host: localhost, HostPort: 3000 }
`);
  assert.equal(config.connectionString, 'Endpoint=sb://ns.example/;SharedAccessKeyName=R;SharedAccessKey=c2VjcmV0');
  assert.deepEqual(config.localForwards, [
    { relayName: 'db', bindings: [{ bindAddress: '127.0.0.1', bindPort: 5432, portName: 'pg' }, { bindPort: 5353, protocol: 'udp' }, { bindLocalSocket: '/tmp/x.sock', portName: 'x' }] },
    { relayName: 'ssh', bindings: [{ bindPort: 2222 }] },
  ]);
  assert.deepEqual(config.remoteForwards, [
    { relayName: 'db', bindings: [{ host: 'localhost', hostPort: 5432, portName: 'pg' }, { hostPort: 53, protocol: 'udp', portName: '53U' }, { localSocket: '/var/run/x.sock', portName: 'x' }] },
  ]);
  assert.deepEqual(config.httpForwards, [{ relayName: 'web', origin: 'http://localhost:3000/' }]);
  assert.deepEqual(parseForwardConfig(''), { localForwards: [], remoteForwards: [], httpForwards: [] }, 'an empty file is an empty configuration');
});

test('the YAML configuration: unknown keys are errors naming their path; values that are secrets are never quoted', () => {
  assert.throws(() => parseForwardConfig('LocalForward:\n  - RelayName: a\n    Bindings:\n      - BindPrt: 22\n'), badConfig(/unknown key "LocalForward\[0\]\.Bindings\[0\]\.BindPrt"/));
  assert.throws(() => parseForwardConfig('RemoteForward:\n  - RelayName: a\n    hostPort: 22\n'), badConfig(/unknown key "RemoteForward\[0\]\.hostPort" \(keys are case-sensitive: "HostPort"\)/));
  assert.throws(() => parseForwardConfig('Foo: 1\n'), badConfig(/unknown key "Foo"/));
  assert.throws(() => parseForwardConfig('GatewayPorts: true\n'), badConfig(/"GatewayPorts" is an azbridge setting that hyco-websocket forward does not support/));
  assert.throws(() => parseForwardConfig('LocalForward:\n  - Bindings: [{ BindPort: 1 }]\n'), badConfig(/"LocalForward\[0\]\.RelayName" is missing/));
  assert.throws(() => parseForwardConfig('LocalForward:\n  - RelayName: a\n'), badConfig(/"LocalForward\[0\]" has no bindings/));
  assert.throws(() => parseForwardConfig('LocalForward:\n  - RelayName: a\n    BindPort: 99999\n'), badConfig(/"LocalForward\[0\]\.BindPort" must be a port number/));
  assert.throws(() => parseForwardConfig('LocalForward: 5\n'), badConfig(/"LocalForward" must be a list/));
  assert.throws(() => parseForwardConfig('- a\n- b\n'), badConfig(/must hold a mapping/));
  const secret = 'SharedAccessKey=c2VjcmV0LXZhbHVl';
  for (const yaml of [`AzureRelayConnectionString: "${secret}\n  x: [\n`, `AzureRelayConnectionString: [${secret}]\n`, `AzureRelaySharedAccessKey: {a: ${secret}}\n`, `a: 1\na: "${secret}"\n`]) {
    assert.throws(
      () => parseForwardConfig(yaml, 'f.yml'),
      (err) => err.code === 'ERR_HYCO_INVALID_CONFIG' && err.message.startsWith('f.yml: ') && !err.message.includes('c2VjcmV0'),
    );
  }
  assert.throws(() => parseForwardConfig('a: 1\na: 2\n'), badConfig(/not valid YAML \(line 2, column 1\): DUPLICATE_KEY/));
  // Aliases are bounded: a "billion laughs" document is refused, not expanded.
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join('\n');
  assert.throws(() => parseForwardConfig(laughs), badConfig(/not valid YAML/));
});

test('loadForwardConfig reads a file, and names it in errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-forward-config-'));
  try {
    const file = path.join(dir, 'azbridge.yml');
    fs.writeFileSync(file, 'RemoteForward:\n  - RelayName: ssh\n    HostPort: 22\n');
    assert.deepEqual(loadForwardConfig(file).remoteForwards, [{ relayName: 'ssh', bindings: [{ hostPort: 22 }] }]);
    fs.writeFileSync(file, 'RemoteForward:\n  - RelayName: ssh\n    Port: 22\n');
    assert.throws(() => loadForwardConfig(file), badConfig(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: unknown key "RemoteForward\\[0\\]\\.Port"`)));
    assert.throws(() => loadForwardConfig(path.join(dir, 'missing.yml')), badConfig(/Cannot read the configuration file .*missing\.yml: ENOENT/));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
