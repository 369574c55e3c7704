export { freeLoopbackPort as freePort } from '../../shared/net';
