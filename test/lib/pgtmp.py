"""A private PostgreSQL cluster for tests that must crash or reconfigure it
(the suite's own cluster is shared): initdb in a fresh directory, free ports,
mimir preloaded, run as the postgres user when we are root."""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import psycopg2


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bindir():
    pg_config = os.environ.get("PG_CONFIG", "pg_config")
    return subprocess.check_output([pg_config, "--bindir"], text=True).strip()


class Cluster:
    def __init__(self, name, conf=()):
        base = os.environ.get("MIMIR_TEST_TMP") or os.path.join(os.path.dirname(__file__), "..", "..", ".test")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=os.path.abspath(base))
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.http_port = free_port()
        self.bin = bindir()
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C.UTF-8"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    "shared_preload_libraries = 'mimir'\nfsync = on\nsynchronous_commit = on\n"
                    "max_worker_processes = 32\nmimir.http_port = %d\n" % (self.port, self.dir, self.http_port))
            for line in conf:
                f.write(line + "\n")
        self.url = "http://127.0.0.1:%d" % self.http_port

    def _run(self, cmd, check=True):
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def start(self):
        r = self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "postgres.log"),
                       "-w", "-t", "120", "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError("could not start PostgreSQL: %s\n%s" % (r.stdout, self.log_tail()))

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"], check=False)

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9(self):
        """kill -9 the postmaster, then every process of the cluster, as a crash does."""
        pm = self.postmaster_pid()
        children = subprocess.run(["pgrep", "-P", str(pm)], stdout=subprocess.PIPE, text=True).stdout.split()
        os.kill(pm, signal.SIGKILL)
        for c in children:
            try:
                os.kill(int(c), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(100):
            alive = [c for c in children if os.path.exists("/proc/%s" % c)]
            if not alive and not os.path.exists("/proc/%d" % pm):
                return
            time.sleep(0.1)

    def connect(self):
        c = psycopg2.connect(host=self.dir, port=self.port, user="postgres", dbname="postgres")
        c.autocommit = True
        return c

    def sql(self, q, *args):
        with self.connect() as c:
            with c.cursor() as cur:
                cur.execute(q, args)
                return cur.fetchall() if cur.description else None

    def push(self, series, tenant=None):
        """Remote-write 1.0 push of [(labels, samples, exemplars)]: (status, body)."""
        from rwproto import snappy, write_request
        h = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
        if tenant:
            h["X-Scope-OrgID"] = tenant
        r = urllib.request.Request(self.url + "/api/v1/push", data=snappy(write_request(series)), headers=h,
                                   method="POST")
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, seconds=30):
        """True once GET /ready answers 200."""
        end = time.time() + seconds
        while time.time() < end:
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (OSError, http.client.HTTPException):  # not up yet, or restarting
                pass
            time.sleep(0.2)
        return False

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "postgres.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
