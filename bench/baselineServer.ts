// The same-run baseline of every relay benchmark (issue 2 §4): a bare in-process Node fan-out
// with no storage and no checks. It speaks just enough of PROTOCOL.md §1 for the load generator
// (hello, join, send, history-free) — it splits lines, parses them, acks at once (no disk),
// and writes each message to the other sockets of its room. Anything the real relay spends
// beyond this is the price of durability, validation, limits and presence.
//
// Run as its own process (`node out/bench/baselineServer.js`) so that its CPU and memory are
// measured exactly like the relay's; it prints `listening port=N` when ready.
//
// With `--cork` it batches like the relay does (src/relay/connection.ts): the first write of a
// tick corks the socket and one nextTick uncorks them all, so what a tick produces for a socket
// goes to the OS as one writev. That variant is a second, stricter fan-out baseline.
import * as net from 'node:net';

const CORK = process.argv.includes('--cork');
const corked: net.Socket[] = [];
let uncorkScheduled = false;

function uncorkAll(): void {
  uncorkScheduled = false;
  for (const s of corked.splice(0)) s.uncork();
}

function send(socket: net.Socket, data: string): void {
  if (CORK && socket.writableCorked === 0) {
    socket.cork();
    corked.push(socket);
    if (!uncorkScheduled) {
      uncorkScheduled = true;
      process.nextTick(uncorkAll);
    }
  }
  socket.write(data);
}

interface Conn {
  socket: net.Socket;
  rooms: Set<string>;
}

const rooms = new Map<string, Set<Conn>>();
const heads = new Map<string, number>();

function handle(conn: Conn, line: string): void {
  const f = JSON.parse(line) as { t: string; rid?: number; room?: string; id?: string; body?: string };
  const room = f.room ?? '';
  switch (f.t) {
    case 'hello':
      send(conn.socket, JSON.stringify({ t: 'welcome', v: 1, agent: 'bare-baseline', maxFrame: 65536, time: Date.now() }) + '\n');
      return;
    case 'join': {
      let members = rooms.get(room);
      if (!members) rooms.set(room, (members = new Set()));
      members.add(conn);
      conn.rooms.add(room);
      const head = heads.get(room) ?? 0;
      send(
        conn.socket,
        JSON.stringify({ t: 'joined', rid: f.rid, room, head, sid: 's' }) + '\n' +
        JSON.stringify({ t: 'synced', rid: f.rid, room, head, from: head + 1 }) + '\n',
      );
      return;
    }
    case 'send': {
      const seq = (heads.get(room) ?? 0) + 1;
      heads.set(room, seq);
      const ts = Date.now();
      send(conn.socket, JSON.stringify({ t: 'ack', rid: f.rid, room, id: f.id, seq, ts }) + '\n');
      const msg = JSON.stringify({ t: 'msg', room, seq, ts, id: f.id, body: f.body }) + '\n';
      for (const other of rooms.get(room) ?? []) if (other !== conn) send(other.socket, msg);
      return;
    }
    case 'ping':
      send(conn.socket, JSON.stringify({ t: 'pong', rid: f.rid }) + '\n');
      return;
    default:
      return;
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const conn: Conn = { socket, rooms: new Set() };
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const text = partial + chunk;
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      if (nl > start) handle(conn, text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    partial = text.slice(start);
  });
  const leave = (): void => {
    for (const room of conn.rooms) rooms.get(room)?.delete(conn);
    conn.rooms.clear();
  };
  socket.on('close', leave);
  socket.on('error', leave);
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`listening port=${address.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
