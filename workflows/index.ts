// Every workflow the worker registers. One file per procedure.
export { networkPreflight } from './network-preflight';
