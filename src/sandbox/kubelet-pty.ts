// The pseudo-terminal of `tty: true` containers. Node has no pty; the host's choices are script(1)
// (util-linux, always there; `kubectl exec -t` uses it), socat's `pty` address and python3's pty module.
// Only python3 lets the kubelet set the window size afterwards (TIOCSWINSZ on the master, which sends the
// shell SIGWINCH): script copies the size of its own stdin, a pipe here, and socat has no resize input.
// python3 is on every machine .ci/run prepares (python3-kubernetes depends on it).
//
// The helper runs `argv` on a new pty (80x24 until told otherwise) as a session leader with it as the
// controlling terminal, copies stdin → master (EOF → ^D, the terminal's end of input) and master → stdout,
// reads "<cols> <rows>\n" lines from fd 3 (if open), forwards SIGTERM/SIGINT/SIGHUP to the child, and
// exits with the child's status (128 + signal when killed). When it dies the master closes and the
// child's session gets SIGHUP, as a container's does when its terminal goes.
export const PTY_HELPER = String.raw`
import fcntl, os, select, signal, struct, sys, termios
def winsize(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
try:
    os.fstat(3); ctl = 3
except OSError:
    ctl = None
master, slave = os.openpty()
winsize(slave, 80, 24)
pid = os.fork()
if pid == 0:
    os.close(master)
    if ctl is not None: os.close(ctl)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2): os.dup2(slave, fd)
    if slave > 2: os.close(slave)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    except OSError as e:
        os.write(2, ('exec %s: %s\r\n' % (sys.argv[1], e.strerror)).encode())
        os._exit(127)
os.close(slave)
def forward(n, _f):
    try: os.kill(pid, n)
    except OSError: pass
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, forward)
os.set_blocking(master, False)
inputs = [master, 0] + ([ctl] if ctl is not None else [])
pending = b''
ctlbuf = b''
while True:
    r, w, _ = select.select([f for f in inputs if not (pending and f == 0)], [master] if pending else [], [])
    if master in w:
        try: pending = pending[os.write(master, pending):]
        except BlockingIOError: pass
    if master in r:
        try: data = os.read(master, 65536)
        except BlockingIOError: continue
        except OSError: data = b''
        if not data: break
        while data: data = data[os.write(1, data):]
    if 0 in r:
        data = os.read(0, 65536)
        if data: pending += data
        else:
            inputs.remove(0); pending += b'\x04'
    if ctl is not None and ctl in r:
        data = os.read(ctl, 4096)
        if not data: inputs.remove(ctl); continue
        ctlbuf += data
        *lines, ctlbuf = ctlbuf.split(b'\n')
        for line in lines:
            try:
                cols, rows = (int(x) for x in line.split())
                winsize(master, cols, rows)
            except (ValueError, OSError): pass
st = os.waitpid(pid, 0)[1]
try: os.killpg(pid, signal.SIGKILL)
except OSError: pass
code = os.waitstatus_to_exitcode(st)
os._exit(code if code >= 0 else 128 - code)
`;
