import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, findNetwork, loadConfig, parseConfig } from '../../shared/config';

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'ledger-dr.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

const valid = `
alerts:
  webhooks:
    - name: ops
      url: https://hooks.example.com/ledger-dr
      token: { env: LEDGER_DR_HOOK_TOKEN }
networks:
  prod:
    kind: corda
    executor: { type: local }
    nodes:
      - id: n0
        url: https://10.0.0.1:8000
        commands:
          start: systemctl start cchost@{{node}}
          status: systemctl is-active cchost@{{node}}
      - id: n1
        url: https://10.0.0.2:8000
        executor:
          type: ssh
          host: 10.0.0.2
          user: ops
          privateKey: { file: /etc/ledger-dr/ssh/id_ed25519 }
          hostKeySha256: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
      - id: n2
        executor: { type: kubectl, namespace: ccf, pod: ccf-2, container: cchost }
      - id: n3
        executor: { type: docker, container: ccf-3 }
`;

describe('configuration loader', () => {
  it('accepts a complete configuration and fills defaults', () => {
    const config = parseConfig(valid, 'ledger-dr.yaml');
    expect(config.temporal.taskQueue).toBe('ledger-dr');
    const prod = findNetwork(config, 'prod');
    expect(prod.nodes.map((n) => n.executor?.type ?? 'default')).toEqual(['default', 'ssh', 'kubectl', 'docker']);
    expect(prod.nodes[1]!.executor).toMatchObject({ port: 22 });
    expect(config.alerts.webhooks[0]!.token).toEqual({ env: 'LEDGER_DR_HOOK_TOKEN' });
  });

  it('names the field and what was expected', () => {
    expect(
      problems(`
networks:
  prod:
    kind: corda
    nodes:
      - { id: n0, url: https://a:1 }
      - { id: n1, url: https://b:1 }
      - { id: n2, url: "not a url" }
`),
    ).toEqual(['networks.prod.nodes[2].url: expected an http or https URL']);
  });

  const ccfNetwork = (nodeUrl: string, extra = '') => `
networks:
  prod:
    kind: ccf
    ccf:
      previousServiceIdentityFile: /etc/ccf/service_cert.pem
      workDirectory: /var/lib/ledger-dr/prod
      backupDirectory: /var/backups/ledger-dr/prod
      launcher:
        start: systemd-run --unit cchost-{{node}} /opt/ccf/bin/cchost --config {{config}}
        stop: systemctl stop cchost-{{node}}
      members:
        - { name: m0, certificateFile: /etc/ccf/members/m0_cert.pem${extra} }
    nodes:
      - { id: n0, url: https://10.0.0.1:8000, ledgerDirectory: /var/ccf/n0/ledger }
      - { id: n1, url: https://10.0.0.2:8000, ledgerDirectory: /var/ccf/n1/ledger }
      - { id: n2, url: ${JSON.stringify(nodeUrl)}, ledgerDirectory: /var/ccf/n2/ledger }
`;

  it('accepts a CCF network and fills its defaults', () => {
    const prod = findNetwork(parseConfig(ccfNetwork('https://10.0.0.3:8000'), 'ledger-dr.yaml'), 'prod');
    if (prod.kind !== 'ccf') throw new Error('expected a ccf network');
    expect(prod.ccf.serviceCertificateDestinations).toEqual([]);
    expect(prod.nodes[2]!.readOnlyLedgerDirectories).toEqual([]);
  });

  it.each([
    ['http://10.0.0.3:8000', 'networks.prod.nodes[2].url: expected an https URL'],
    ['https://10.0.0.3', 'networks.prod.nodes[2].url: expected an https URL with an explicit port and no path'],
  ])('refuses the CCF node url %s', (url, expected) => {
    expect(problems(ccfNetwork(url))[0]).toContain(expected);
  });

  it('refuses a member key written inline', () => {
    const found = problems(ccfNetwork('https://10.0.0.3:8000', ', signingKey: "-----BEGIN PRIVATE KEY-----"'));
    expect(found[0]).toMatch(/^networks\.prod\.ccf\.members\[0\]\.signingKey: expected a reference/);
    expect(found.join()).not.toContain('BEGIN PRIVATE KEY');
  });

  it('refuses secrets written inline', () => {
    const found = problems(`
alerts:
  webhooks: [{ name: ops, url: "https://h/x", token: "s3cr3t-token" }]
networks: { prod: { kind: corda, nodes: [{ id: n0 }] } }
`);
    expect(found).toEqual([
      'alerts.webhooks[0].token: expected a reference {env: VARIABLE} or {file: /absolute/path}; secrets are never written inline',
    ]);
    expect(found.join()).not.toContain('s3cr3t-token');
  });

  it.each([
    [
      'unknown kind',
      'networks: { prod: { kind: besu, nodes: [{ id: n0 }] } }',
      'networks.prod.kind: expected kind: ccf, canton or corda',
    ],
    [
      'misspelt field',
      'networks: { prod: { kind: corda, nodes: [{ id: n0, ledgerdir: /x }] } }',
      'networks.prod.nodes[0]: unknown field ledgerdir',
    ],
    [
      'duplicate node ids',
      'networks: { prod: { kind: corda, nodes: [{ id: n0 }, { id: n0 }] } }',
      'networks.prod.nodes[1].id: duplicate node id "n0"',
    ],
    ['no nodes', 'networks: { prod: { kind: corda, nodes: [] } }', 'networks.prod.nodes: expected at least one node'],
    ['missing nodes', 'networks: { prod: { kind: corda } }', 'networks.prod.nodes: required: expected array'],
    [
      'bad network name',
      'networks: { "Prod DB": { kind: corda, nodes: [{ id: n0 }] } }',
      'networks.Prod DB: expected a name of lowercase letters',
    ],
    [
      'path traversal in a node id',
      'networks: { prod: { kind: corda, nodes: [{ id: "../../etc" }] } }',
      'networks.prod.nodes[0].id: expected a node id',
    ],
    [
      'relative secret file',
      'networks: { prod: { kind: corda, nodes: [{ id: n0, executor: { type: ssh, host: h, user: u, privateKey: { file: id_rsa }, hostKeySha256: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" } }] } }',
      'networks.prod.nodes[0].executor.privateKey.file: expected an absolute path',
    ],
    [
      'unpinned ssh host key',
      'networks: { prod: { kind: corda, nodes: [{ id: n0, executor: { type: ssh, host: h, user: u, privateKey: { env: K } } }] } }',
      'networks.prod.nodes[0].executor.hostKeySha256: required',
    ],
    [
      'unknown executor',
      'networks: { prod: { kind: corda, nodes: [{ id: n0, executor: { type: telnet } }] } }',
      'networks.prod.nodes[0].executor.type: expected an executor with type local, ssh, kubectl or docker',
    ],
    [
      'unknown placeholder',
      'networks: { prod: { kind: corda, nodes: [{ id: n0, commands: { stop: "kill {{pid}}" } }] } }',
      'networks.prod.nodes[0].commands.stop: unknown placeholder {{pid}}; available: {{network}}, {{node}}',
    ],
    [
      'quoted placeholder',
      `networks: { prod: { kind: corda, nodes: [{ id: n0, commands: { stop: "echo '{{node}}'" } }] } }`,
      'networks.prod.nodes[0].commands.stop: placeholders must not be inside quotes',
    ],
    ['YAML syntax error', 'networks: [', 'YAML line 1'],
    ['duplicate YAML key', 'networks: {}\nnetworks: {}', 'Map keys must be unique'],
  ])('refuses %s', (_name, yaml, expected) => {
    const found = problems(yaml);
    expect(found.some((p) => p.startsWith(expected) || p.includes(expected))).toBe(true);
  });

  it('explains a missing file and where the path came from', () => {
    expect(() => loadConfig('/nonexistent/ledger-dr.yaml')).toThrow(/file not found; copy ledger-dr.example.yaml/);
  });

  it('loads a file from disk', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ledger-dr-config-'));
    writeFileSync(path.join(dir, 'c.yaml'), valid);
    expect(Object.keys(loadConfig(path.join(dir, 'c.yaml')).networks)).toEqual(['prod']);
  });

  it('lists the configured networks when asked for an unknown one', () => {
    const config = parseConfig(valid, 'x');
    expect(() => findNetwork(config, 'dev')).toThrow(
      'network: no network named "dev" in the configuration; configured: prod',
    );
  });
});
