/** No Docker engine runs here, so the compose file and Dockerfile are checked by reading them. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../shared/config';
import { PROJECT_ROOT } from '../helpers/paths';
import { scratchDir } from '../helpers/temporal';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: string[];
  command?: string[];
}

const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe('docker-compose.yml', () => {
  it('runs a Temporal server on PostgreSQL', () => {
    const { postgresql, temporal } = compose.services;
    expect(postgresql!.image).toMatch(/^postgres:\d+(\.\d+)*$/);
    expect(temporal!.image).toMatch(/^temporalio\/auto-setup:\d+\.\d+\.\d+$/);
    expect(temporal!.environment).toMatchObject({
      DB: 'postgres12',
      POSTGRES_SEEDS: 'postgresql',
      POSTGRES_USER: postgresql!.environment!.POSTGRES_USER,
      POSTGRES_PWD: postgresql!.environment!.POSTGRES_PASSWORD,
    });
    expect(dependsOn(temporal!)).toEqual(['postgresql']);
    expect(temporal!.ports).toContain('7233:7233');
    expect(Object.keys(compose.volumes)).toContain(postgresql!.volumes![0]!.split(':')[0]);
  });

  it('serves the Temporal UI against that server', () => {
    const ui = compose.services['temporal-ui']!;
    expect(ui.image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(ui.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(ui.ports).toContain('8080:8080');
  });

  it('builds the ledger-dr worker from the repository and points it at the server and a configuration', () => {
    const worker = compose.services.worker!;
    expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(existsSync(path.join(PROJECT_ROOT, worker.build!.dockerfile))).toBe(true);
    expect(worker.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      LEDGER_DR_CONFIG: '/etc/ledger-dr/ledger-dr.yaml',
    });
    expect(worker.volumes).toContain('./ledger-dr.yaml:/etc/ledger-dr/ledger-dr.yaml:ro');
    expect(dependsOn(worker)).toEqual(['temporal']);
    expect(worker.ports).toContain(`9464:${worker.environment!.LEDGER_DR_METRICS_ADDRESS!.split(':')[1]}`);
  });

  it('runs the API from the same image, built entry point, on the configuration', () => {
    const api = compose.services.api!;
    expect(api.build).toEqual(compose.services.worker!.build);
    expect(api.command).toEqual(['node', 'dist/api/main.js']);
    expect(api.environment).toMatchObject({ LEDGER_DR_API_ADDRESS: '0.0.0.0:7780' });
    expect(api.ports).toContain('7780:7780');
    expect(compose.services['temporal-ui']!.environment!.TEMPORAL_CODEC_ENDPOINT).toMatch(
      /^http:\/\/localhost:7780\/codec\/t\//,
    );
  });

  it('uses a Dockerfile whose entry point the build produces', () => {
    const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    const cmd = /CMD \["node", "([^"]+)"\]/.exec(dockerfile)?.[1];
    expect(cmd).toBe('dist/workers/main.js');
    const outDir = scratchDir('build');
    execFileSync(
      process.execPath,
      [
        path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        outDir,
      ],
      { cwd: PROJECT_ROOT },
    );
    expect(existsSync(path.join(outDir, cmd!.replace(/^dist\//, '')))).toBe(true);
    // The API (compose) and the CLI (package.json bin) are built beside it.
    expect(existsSync(path.join(outDir, 'api', 'main.js'))).toBe(true);
    expect(existsSync(path.join(outDir, 'cli', 'main.js'))).toBe(true);
  }, 120_000);

  it('ships an example configuration that the loader accepts', () => {
    expect(Object.keys(loadConfig(path.join(PROJECT_ROOT, 'ledger-dr.example.yaml')).networks)).toEqual([
      'consortium-ccf',
    ]);
  });
});
