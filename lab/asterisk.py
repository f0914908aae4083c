"""The real Asterisk lab: Asterisk 22 in a Debian sid chroot, started by the project itself.

`python -m lab build|start|stop|demo`. The chroot is built once by mmdebstrap and
cached under `.lab/` (ignored by git). The shipped `asterisk-conf/` files are copied in and
loaded as they are; the lab adds its own contexts (a caller side and a call-centre side), AMI
on 127.0.0.1:15038 and the FastAGI server on 127.0.0.1:14573. Asterisk runs in a private mount
namespace whose read-only bind mounts (this checkout, the Python it runs on) let classic AGI
run inside the chroot and vanish with the process. Everything is stopped by PID. Needs root.
"""

import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("AGI_CONSENT_LAB_DIR", REPO / ".lab"))
ROOT = LAB / "chroot"
ETC = "/etc/agi-consent-lab"  # Asterisk's config dir inside the chroot
AMI_PORT, AGI_PORT = 15038, 14573
DEAD_AGI_PORT = 14599  # nothing listens here: a stopped server, as Asterisk sees it
PACKAGES = ("asterisk", "asterisk-core-sounds-en-wav", "libexpat1")
MIRROR_VARIABLE = "AGI_CONSENT_LAB_MIRROR"  # override; else this machine's apt sources
APT_SOURCES = Path("/etc/apt")
PROMPTS_IN = "/usr/share/agi-consent/prompts"
RECORDINGS_IN = "/var/spool/asterisk/monitor/consent"
DATABASE_IN = "/var/lib/agi-consent/consent.db"
CLASSIC_AGI = "agi-consent-agi"
AMI_SECRET = LAB / "ami.secret"  # the plugin's copy of the [agi-consent] AMI user's secret


class LabError(RuntimeError):
    """The lab cannot start; the message says what to do."""


def _need_root():
    if os.geteuid() != 0:
        raise LabError("The Asterisk lab needs root (chroot, mount namespaces); run it as root.")


def _source_uris(text, deb822):
    """Archive URIs of `deb` entries in one apt sources file (one-line or deb822 format)."""
    uris = []
    if deb822:
        for stanza in text.split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines()
                          if ":" in line and not line.startswith(("#", " ")))
            if "deb" in fields.get("Types", "").split():
                uris += fields.get("URIs", "").split()
        return uris
    for line in text.splitlines():
        words = line.split("#")[0].split()
        if words[:1] != ["deb"]:
            continue
        rest = words[1:]
        if rest and rest[0].startswith("["):  # [arch=… signed-by=…] options
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        uris += rest[:1]
    return uris


def mirror(apt=APT_SOURCES):
    """The Debian archive to build from: $AGI_CONSENT_LAB_MIRROR, else this machine's own."""
    if os.environ.get(MIRROR_VARIABLE):
        return os.environ[MIRROR_VARIABLE]
    files = [(apt / "sources.list", False), *((f, False) for f in
             sorted((apt / "sources.list.d").glob("*.list"))),
             *((f, True) for f in sorted((apt / "sources.list.d").glob("*.sources")))]
    for path, deb822 in files:
        if path.is_file():
            for uri in _source_uris(path.read_text(), deb822):
                if uri.rstrip("/").endswith("/debian"):
                    return uri
    raise LabError(f"No Debian archive in {apt}'s sources; set {MIRROR_VARIABLE} to one "
                   "(the URI of a Debian mirror).")


def build():
    """Build the chroot once (about 30 s, 360 MB); reuse it afterwards."""
    _need_root()
    if (ROOT / "usr/sbin/asterisk").exists():
        return False
    if not shutil.which("mmdebstrap"):
        raise LabError("mmdebstrap is missing; run 'make deps' (apt-get install mmdebstrap).")
    partial = LAB / "chroot.partial"
    shutil.rmtree(partial, ignore_errors=True)
    LAB.mkdir(parents=True, exist_ok=True)
    command = ["mmdebstrap", "--variant=minbase", "--aptopt=Acquire::Check-Valid-Until \"false\"",
               "--include=" + ",".join(PACKAGES), "--components=main", "sid", str(partial),
               mirror()]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError("Building the Asterisk chroot failed (mmdebstrap exit "
                       f"{result.returncode}):\n{result.stderr[-2000:]}")
    partial.rename(ROOT)
    return True


def inside(path):
    """The host path of a path inside the chroot."""
    return ROOT / str(path).lstrip("/")


def module_dir():
    found = sorted(ROOT.glob("usr/lib/*/asterisk/modules"))
    if not found:
        raise LabError(f"No Asterisk modules under {ROOT}; delete {ROOT} and rebuild.")
    return "/" + str(found[0].relative_to(ROOT))


def _write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


ASTERISK_CONF = """[directories]
astetcdir => {etc}
astmoddir => {modules}
astvarlibdir => /var/lib/asterisk
astdbdir => /var/lib/asterisk
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => /var/spool/asterisk
astrundir => /var/run/agi-consent-lab
astlogdir => /var/log/agi-consent-lab
astsbindir => /usr/sbin

[options]
verbose = 3
"""

MODULES_CONF = """[modules]
autoload = no
#include modules-agi-consent.conf
; lab only: events for the tests, and the caller side's Wait/Hangup helpers
load => app_userevent.so
load => res_musiconhold.so
load => app_dial.so
load => bridge_simple.so
load => bridge_builtin_features.so
"""

FEATURES_CONF = """[general]
#include features-agi-consent.conf
"""

MANAGER_CONF = """[general]
enabled = yes
port = {ami_port}
bindaddr = 127.0.0.1

#include manager-agi-consent.conf

[lab]
secret = {lab_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
"""

LOGGER_CONF = """[logfiles]
messages.log => notice,warning,error,verbose(3)
"""

EXTENSIONS_CONF = """[general]
static = yes
writeprotect = yes

#include extensions-agi-consent.conf
#include extensions-agi-consent-examples.conf

[globals]
CONSENT_AGI=agi://127.0.0.1:{agi_port}/consent
CONSENT_AGI_SERVER=agi://127.0.0.1:{agi_port}
CONSENT_WITHDRAW_FEATURE=consent-withdraw

; The call centre: runs the shipped gate, then an "agent" talks, then hangs up.
[lab-pbx]
exten => s,1,Set(CHANNEL(hangup_handler_push)=lab-done,s,1)
 same => n,Gosub(consent-gate,s,1(${{LAB_REGION}},${{LAB_DIRECTION}},${{LAB_NUMBER}},${{LAB_LANG}}))
 same => n,UserEvent(LabGate,Tag: ${{LAB_TAG}},Result: ${{CONSENT_RESULT}},Mode: ${{CONSENT_MODE}},Jurisdiction: ${{CONSENT_JURISDICTION}},Id: ${{CONSENT_ID}},Recording: ${{CONSENT_RECORDING}},AgiStatus: ${{AGISTATUS}},MixMon: ${{MIXMONITOR(${{CONSENT_MIXMON_ID}},filename)}})
 same => n,GotoIf($["${{LAB_AFTER}}" != ""]?${{LAB_AFTER}})
 same => n,Playback(tt-weasels)
 same => n,Hangup()
; A card payment: audio, a pause over a known prompt, audio again (the file shows the span).
 same => n(pause),Playback(hello-world)
 same => n,Gosub(consent-pause,s,1(,card payment))
 same => n,UserEvent(LabPause,Tag: ${{LAB_TAG}},State: ${{CONSENT_PAUSE}})
 same => n,Playback(tt-weasels)
 same => n,Gosub(consent-resume,s,1())
 same => n,UserEvent(LabPause,Tag: ${{LAB_TAG}},State: ${{CONSENT_PAUSE}})
 same => n,Playback(hello-world)
 same => n,Hangup()
; An agent takes the call (a bridge: the caller's DTMF features work here).
 same => n(agent),Dial(Local/agent@lab-agent/n,,g)
 same => n,Hangup()
; Held for the tests to steer by AMI (redirect, hangup), with audio playing meanwhile.
 same => n(hold),Playback(tt-weasels)
 same => n,Wait(120)
 same => n,Hangup()

[lab-agent]
exten => agent,1,Answer()
 same => n,Playback(tt-weasels)
 same => n,Wait(40)

; Where a transferred caller goes: more audio, then the end.
[lab-transfer]
exten => s,1,UserEvent(LabTransferred,Tag: ${{LAB_TAG}})
 same => n,Playback(hello-world)
 same => n,Playback(hello-world)
 same => n,Hangup()

; Runs on hangup wherever the channel is (a caller may hang up inside the gate).
[lab-done]
exten => s,1,UserEvent(LabDone,Tag: ${{LAB_TAG}},Result: ${{CONSENT_RESULT}},Id: ${{CONSENT_ID}})
 same => n,Return()

; The caller: what a person on the line does once the call centre answers.
[lab-caller]
exten => accept,1,Wait(${{LAB_DELAY}})
 same => n,SendDTMF(1)
 same => n,Playback(hello-world)
 same => n,Wait(30)
exten => decline,1,Wait(${{LAB_DELAY}})
 same => n,SendDTMF(2)
 same => n,Wait(30)
exten => say,1,Wait(${{LAB_DELAY}})
 same => n,Playback(${{LAB_SAY}})
 same => n,ExecIf($["${{LAB_KEY}}" != ""]?SendDTMF(${{LAB_KEY}}))
 same => n,ExecIf($["${{LAB_THEN}}" != ""]?Wait(${{LAB_THEN_AFTER}}))
 same => n,ExecIf($["${{LAB_THEN}}" != ""]?Playback(${{LAB_THEN}}))
 same => n,Wait(90)
exten => silent,1,Wait(120)
exten => listen,1,Wait(60)
exten => hangup,1,Wait(${{LAB_DELAY}})
 same => n,Hangup()
; Accepts, then (bridged to the agent by then) presses the withdrawal sequence.
exten => withdraw,1,Wait(${{LAB_DELAY}})
 same => n,SendDTMF(1)
 same => n,Wait(${{LAB_WITHDRAW_AFTER}})
 same => n,SendDTMF(*9)
 same => n,Wait(8)
"""


def _python_binds():
    """What classic AGI needs to run this venv's Python inside the chroot."""
    base = Path(sys.base_prefix)
    if str(base) != "/usr":
        return [base], []
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [Path("/usr/lib") / version, Path("/usr/bin") / version], [("/usr/bin/python3",
                                                                       version)]


def configure():
    """Write the lab's Asterisk and plugin config into the chroot; returns the AMI secret."""
    etc = inside(ETC)
    if etc.exists():
        shutil.rmtree(etc)
    for shipped in sorted((REPO / "asterisk-conf").glob("*.conf")):
        _write(etc / shipped.name, shipped.read_text())  # loaded as they are
    lab_secret = secrets.token_hex(16)
    values = {"etc": ETC, "modules": module_dir(), "ami_port": AMI_PORT,
              "agi_port": AGI_PORT, "lab_secret": lab_secret}
    _write(etc / "asterisk.conf", ASTERISK_CONF.format(**values))
    _write(etc / "modules.conf", MODULES_CONF)
    _write(etc / "manager.conf", MANAGER_CONF.format(**values), 0o640)
    ami_secret = secrets.token_hex(16)
    _write(etc / "manager-agi-consent-secret.conf", f"secret = {ami_secret}\n", 0o640)
    _write(AMI_SECRET, ami_secret + "\n", 0o600)
    _write(etc / "logger.conf", LOGGER_CONF)
    _write(etc / "features.conf", FEATURES_CONF)
    _write(etc / "extensions.conf", EXTENSIONS_CONF.format(**values))
    for name in ("musiconhold.conf", "cdr.conf", "cel.conf"):
        _write(etc / name, "")
    _write(inside("/etc/agi-consent/agi-consent.toml"), plugin_config(inside_chroot=True))
    _write(LAB / "server.toml", plugin_config(inside_chroot=False))
    install_prompts()
    write_spoken_answers()
    agi_bin = inside("/usr/share/asterisk/agi-bin")
    agi_bin.mkdir(parents=True, exist_ok=True)
    link = agi_bin / CLASSIC_AGI
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path(sys.prefix) / "bin" / CLASSIC_AGI)
    return lab_secret


def plugin_config(inside_chroot):
    """The plugin's config: classic AGI sees the chroot as '/', the server sees it from outside."""
    root = "" if inside_chroot else str(ROOT)
    database = DATABASE_IN if inside_chroot else str(inside(DATABASE_IN))
    return (f'database = "{database}"\nasterisk_root = "{root}"\n'
            f'[server]\nhost = "127.0.0.1"\nport = {AGI_PORT}\ncommand_timeout = 30\n'
            f'[prompts]\ndirectory = "{PROMPTS_IN}"\n'
            f'[recording]\ndirectory = "{RECORDINGS_IN}"\n'
            '[flow]\nanswer_timeout = 3\n'
            '[speech]\nenabled = true\n'  # off by default; the lab shows and tests it
            + ("" if inside_chroot else  # the watcher runs in the server
               f'[ami]\nhost = "127.0.0.1"\nport = {AMI_PORT}\nusername = "agi-consent"\n'
               f'secret_file = "{AMI_SECRET}"\nping_seconds = 2\n'))


SPOKEN_IN = "/usr/share/agi-consent-lab/spoken"
SPOKEN = {"yes": "yes", "no": "no", "maybe": "maybe", "no-thanks": "no thanks",
          "yes-yes": "yes, yes", "absolutely-not": "absolutely not"}


def write_spoken_answers():
    """What the lab's callers say, synthesised once: 8 kHz WAV as a phone line carries it."""
    folder = inside(SPOKEN_IN)
    folder.mkdir(parents=True, exist_ok=True)
    for name, words in SPOKEN.items():
        target = folder / f"{name}.wav"
        if target.exists():
            continue
        spoken = folder / f"{name}.espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken), words], check=True)
        subprocess.run(["sox", "-R", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(target)],
                       check=True)
        spoken.unlink()


def install_prompts():
    target = inside(PROMPTS_IN)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(REPO / "prompts", target)


def _launch_script():
    """The shell that sets up the private mount namespace and execs Asterisk in the chroot."""
    dirs, links = _python_binds()
    steps = ["set -e", f"mount -t proc proc {shlex.quote(str(inside('/proc')))}"]
    for path in [REPO, *dirs]:
        target = inside(path)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        steps.append(f"mount --bind -o ro {shlex.quote(str(path))} "
                     f"{shlex.quote(str(target))}")
    for link, name in links:
        if not os.path.lexists(inside(link)):
            inside(link).symlink_to(name)
    for path in ("/var/run/agi-consent-lab", "/var/log/agi-consent-lab", "/var/lib/asterisk",
                 RECORDINGS_IN, os.path.dirname(DATABASE_IN)):
        inside(path).mkdir(parents=True, exist_ok=True, mode=0o750)
    steps += ["umask 027", f"exec chroot {shlex.quote(str(ROOT))} /usr/sbin/asterisk "
              f"-C {ETC}/asterisk.conf -f"]
    return "\n".join(steps)


def _port_open(port):
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port, process, what, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"{what} exited with {process.returncode} while starting; see "
                           f"{LAB}/{what.split()[0].lower()}.out")
        if _port_open(port):
            return
        time.sleep(0.1)
    raise LabError(f"{what} did not listen on 127.0.0.1:{port} within {seconds} s.")


_children = {}  # processes this Python started, reaped by stop()


def _spawn(command, name, **options):
    LAB.mkdir(parents=True, exist_ok=True)
    with open(LAB / f"{name}.out", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, **options)
    (LAB / f"{name}.pid").write_text(str(process.pid))
    _children[name] = process
    return process


def start_asterisk():
    _need_root()
    build()
    stop()
    for port in (AMI_PORT, AGI_PORT):
        if _port_open(port):
            raise LabError(f"Port {port} is already in use; stop what holds it "
                           "('make lab-stop' if it is an earlier lab).")
    secret = configure()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    process = _spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      _launch_script()], "asterisk", env=env)
    _wait_port(AMI_PORT, process, "Asterisk AMI")
    return process, secret


def start_server():
    """The FastAGI server, as a site runs it: the real CLI in its own process."""
    command = [str(Path(sys.prefix) / "bin" / "agi-consent"), "--config", str(LAB / "server.toml"),
               "serve"]
    process = _spawn(command, "server", env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _wait_port(AGI_PORT, process, "FastAGI server")
    return process


def _stop_pid(name, seconds=10):
    pid_file = LAB / f"{name}.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            if _reaped(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, ValueError):
        pass
    pid_file.unlink(missing_ok=True)
    child = _children.pop(name, None)
    if child:
        child.wait()


def _reaped(pid):
    for child in _children.values():
        if child.pid == pid:
            return child.poll() is not None
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def stop():
    """Stop the server and Asterisk started by this lab (by PID)."""
    _stop_pid("server")
    _stop_pid("asterisk")




def stop_server():
    _stop_pid("server")


def restart_asterisk():
    """Stop Asterisk and start it again on the same config (AMI drops and comes back)."""
    _stop_pid("asterisk")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    process = _spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      _launch_script()], "asterisk", env=env)
    _wait_port(AMI_PORT, process, "Asterisk AMI")
    return process
