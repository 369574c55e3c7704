import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/**
 * Scratch space for test runs; git-ignored, and each test makes its own subfolder. The chaos runner moves it
 * (LEDGER_DR_TEST_DATA_DIR) so it never shares files, such as the payload key, with a Jest run.
 */
export const TEST_DATA_DIR = process.env.LEDGER_DR_TEST_DATA_DIR ?? path.join(PROJECT_ROOT, '.data', 'test');
/** Screenshots and other artefacts a reviewer may want to look at after a run. */
export const TEST_ARTIFACTS_DIR = path.join(PROJECT_ROOT, 'test-artifacts');
