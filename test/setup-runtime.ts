// Worker logs at ERROR in tests: tests fail workflows on purpose, and the SDK logs every start, stop and failure.
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
