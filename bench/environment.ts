/**
 * Imported first by the benchmark runner: its scratch space (and with it the payload key the test helpers use)
 * is a folder of its own, set before any helper reads it.
 */
import path from 'node:path';

process.env.LEDGER_DR_TEST_DATA_DIR ??= path.resolve(__dirname, '..', '.data', 'bench', `${Date.now()}`);
