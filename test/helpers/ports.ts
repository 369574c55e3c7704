import { readFileSync } from 'node:fs';
import net from 'node:net';
import { freeLoopbackPort } from '../../shared/net';

/** Ports this process has handed out: a port that was free a moment ago may be handed out twice otherwise. */
const handedOut = new Set<number>();
const FLOOR = 10_000;

/** The kernel's ephemeral range: outgoing connections (and servers on port 0) take their ports from it. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux
  }
  return [32_768, 60_999];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a server that must be told its port up front (simulated nodes bind theirs only when
 * launched, maybe minutes later). It is chosen below the ephemeral range, so no outgoing connection can take it
 * in the meantime, and never twice in this process.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  for (;;) {
    // Where the ephemeral range leaves no room below it, any free port will have to do.
    const port = low - FLOOR >= 1000 ? FLOOR + Math.floor(Math.random() * (low - FLOOR)) : await freeLoopbackPort();
    if (handedOut.has(port) || !(await canBind(port))) continue;
    handedOut.add(port);
    return port;
  }
}
