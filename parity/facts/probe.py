"""The facts probe: NOT imported. facts.py runs this file's source with each side's own
interpreter (`python -c SOURCE ARGS_JSON`): the developer's virtualenv, and the app image's
Python inside the container (testinfra's docker backend). So: any Python >= 3.8, the standard
library only (psycopg or psycopg2, and Django, when the app has them), untyped on purpose.

It prints one line, "@@PARITY-FACTS@@" + JSON (facts.MARKER): each fact's raw data, or
{"error": ...}. Environment variable values never leave it: only their names do.
"""
import json
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
A = json.loads(sys.argv[1])
OUT = {}
SERVERS = ("gunicorn", "uwsgi", "uvicorn", "daphne", "hypercorn", "waitress-serve")
SKIP_DIRS = {".git", ".venv", "venv", "env", "node_modules", "__pycache__", ".tox", ".nox",
             "site-packages", "staticfiles", "static", "media", "tests", "test", "build", "dist"}
IMPORT = re.compile(r"^([ \t]*)(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import"
                    r"|import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*))", re.M)

def timed_out(signum, frame):
    raise TimeoutError("the probe ran out of time (%ss)" % A["timeout"])
signal.signal(signal.SIGALRM, timed_out)
signal.alarm(A["timeout"])

TOOK = {}

def fact(name):
    def run(function):
        started = time.time()
        try:
            OUT[name] = function()
        except BaseException as exc:  # SystemExit from settings, too
            OUT[name] = {"error": "%s: %s" % (type(exc).__name__, str(exc).strip()[:300])}
        TOOK[name] = round(time.time() - started, 3)
    return run

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def argv_of(pid):
    with open("/proc/%s/cmdline" % pid, "rb") as f:
        return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]

def app_pid():
    if A["pid"] == "self":
        return os.getpid()
    if A["pid"]:
        return int(A["pid"])
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (os.getpid(), os.getppid()):
            continue
        try:
            argv = argv_of(entry)
        except OSError:
            continue
        if any("PARITY-FACTS" in a for a in argv):
            continue
        if any(os.path.basename(a).split(":")[0] in SERVERS for a in argv[:3]):
            found.append(int(entry))
    return min(found) if found else 1

def environ_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        items = [i.partition(b"=") for i in f.read().split(b"\0") if b"=" in i]
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, _, v in items}

PID = app_pid()
NAMES, SOURCE = None, "the app's environment as parity passed it"
if A["pid"] != "self":
    try:
        NAMES, SOURCE = environ_of(PID), "/proc/%d/environ" % PID
    except OSError as exc:
        SOURCE = "the probe's own environment (%s)" % exc
ENV = NAMES
if A["envfile"]:
    with open(A["envfile"]) as f:
        ENV = json.load(f)
if ENV is None:
    ENV = dict(os.environ)
os.environ.clear()
os.environ.update(ENV)
if hasattr(time, "tzset"):
    time.tzset()
# PARITY_SETTINGS_MODULE: the app's own module, which parity's local wrapper (appsettings.py) wraps.
SETTINGS = (os.environ.get("PARITY_SETTINGS_MODULE") or os.environ.get("DJANGO_SETTINGS_MODULE")
            or A["settings"]) if A["settings"] else None
WORKDIR = os.path.abspath(A["workdir"] or ".")  # "": docker exec's cwd, the WorkingDir
sys.path.insert(0, WORKDIR)
os.chdir(WORKDIR)

@fact("python")
def _():
    import platform
    return {"implementation": platform.python_implementation(),
            "version": platform.python_version(), "executable": sys.executable}

def scan_imports():
    """{dist: file} for module-level imports, and for imports inside a block (lazy)."""
    from importlib import metadata
    top, lazy = {}, {}
    if not hasattr(metadata, "packages_distributions"):
        return top, lazy
    owners, files = metadata.packages_distributions(), 0
    for root, dirs, names in os.walk(WORKDIR):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS
                   and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))]
        for name in names:
            if not name.endswith(".py") or name.startswith("test_") or name.endswith("_test.py") \
                    or name == "conftest.py":
                continue
            files += 1
            if files > 5000:
                return top, lazy
            path = os.path.join(root, name)
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            for indent, single, many in IMPORT.findall(text):
                for module in [single] if single else many.split(","):
                    for dist in owners.get(module.strip().split(".")[0], ()):
                        found = lazy if indent else top
                        found.setdefault(norm(dist), os.path.relpath(path, WORKDIR))
    return top, {dist: path for dist, path in lazy.items() if dist not in top}

def requirements():
    if not A["requirements"]:
        return None
    try:
        with open(os.path.join(WORKDIR, A["requirements"])) as f:
            lines = [line.split("#", 1)[0].strip() for line in f]
    except OSError:
        return None
    return sorted({norm(re.match(r"[A-Za-z0-9][\w.-]*", line).group(0))
                   for line in lines if line and re.match(r"[A-Za-z0-9]", line)})

MARKER_WORDS = ("python_version", "python_full_version", "implementation_version")

@fact("packages")
def _():
    import platform
    from importlib import metadata
    installed, requires_python, interpreter_markers = {}, {}, {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        name = norm(name)
        installed.setdefault(name, dist.version)
        if dist.metadata.get("Requires-Python"):
            requires_python.setdefault(name, dist.metadata["Requires-Python"])
        for requirement in dist.requires or ():
            wanted, _, marker = requirement.partition(";")
            named = re.match(r"\s*([A-Za-z0-9][\w.-]*)", wanted)
            if named and any(word in marker for word in MARKER_WORDS) and "extra" not in marker:
                interpreter_markers.setdefault(norm(named.group(1)), []).append(
                    "%s (%s)" % (name, marker.strip()))
    top, lazy = scan_imports()
    return {"installed": installed, "imported": top, "lazy": lazy, "required": requirements(),
            "python": platform.python_version(), "requires_python": requires_python,
            "interpreter_markers": interpreter_markers}

def mapped(pattern):
    names = set()
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:  # no /proc (macOS): versions only
        lines = []
    for line in lines:
        base = os.path.basename(line.split()[-1]) if len(line.split()) >= 6 else ""
        if re.match(r"lib(%s)\b" % pattern, base):
            names.add(base)
    return sorted(names)

@fact("libpq")
def _():
    """The libpq the app's driver loads: psycopg (3) first, as Django picks it, then psycopg2.
    psycopg 3 comes as a binary build (its own libpq in psycopg_binary.libs), a C build, or
    pure Python on the system's libpq (ctypes): each is loaded, so /proc/self/maps names it."""
    problems = []
    try:
        import psycopg
        from psycopg import pq
    except ImportError as exc:
        problems.append("psycopg: %s" % exc)
    else:
        return {"runtime": pq.version(), "compiled": getattr(pq, "__build_version__", None),
                "linked": mapped("pq"),
                "driver": "psycopg %s (%s)" % (psycopg.__version__, pq.__impl__)}
    try:
        import psycopg2
        import psycopg2.extensions
    except ImportError as exc:
        problems.append("psycopg2: %s" % exc)
        return {"missing": "no PostgreSQL driver is importable (%s)" % "; ".join(problems)}
    return {"runtime": psycopg2.extensions.libpq_version(),
            "compiled": psycopg2.__libpq_version__, "linked": mapped("pq"),
            "driver": "psycopg2 %s" % psycopg2.__version__.split()[0]}

@fact("libssl")
def _():
    import ssl
    return {"version": ssl.OPENSSL_VERSION, "info": list(ssl.OPENSSL_VERSION_INFO),
            "linked": mapped("ssl|crypto")}

@fact("timezone")
def _():
    found = {"TZ": os.environ.get("TZ"), "tzname": list(time.tzname),
             "offset": time.strftime("%z")}
    try:
        with open("/etc/timezone") as f:
            found["etc_timezone"] = f.read().strip()
    except OSError:
        pass
    try:
        found["localtime"] = os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1]
    except OSError:
        pass
    return found

@fact("locale")
def _():
    import locale
    try:
        current = locale.setlocale(locale.LC_ALL, "")
    except locale.Error as exc:
        current = "unsupported (%s)" % exc
    return {"locale": current, "encoding": locale.getpreferredencoding(False),
            "env": {k: os.environ[k] for k in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")
                    if k in os.environ}}

@fact("user")
def _():
    with open("/proc/%d/status" % PID) as f:
        uid = int(re.search(r"^Uid:\s+\d+\s+(\d+)", f.read(), re.M).group(1))
    try:
        import pwd
        name = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        name = ""
    with open("/proc/%d/comm" % PID) as f:
        return {"pid": PID, "uid": uid, "name": name, "process": f.read().strip()}

def settings_files():
    import importlib.util
    spec = importlib.util.find_spec(SETTINGS)
    if spec is None or not spec.origin:
        return []
    folder = os.path.dirname(spec.origin)
    if spec.submodule_search_locations or SETTINGS.rpartition(".")[0].endswith("settings"):
        return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py"))
    return [spec.origin]

@fact("env names")
def _():
    literals = set()
    for path in settings_files() if SETTINGS else []:
        with open(path, encoding="utf-8", errors="replace") as f:
            literals.update(re.findall(r"""['"]([A-Z][A-Z0-9_]+)['"]""", f.read()))
    names = ENV if NAMES is None else NAMES
    return {"names": sorted(names), "source": SOURCE,
            "settings_literals": sorted(literals & set(names) | literals & set(ENV))}

ENV_LITERAL = re.compile(r"^[A-Z][A-Z0-9_]+$")

def env_sources(paths):
    """{SETTING: [NAME, ...]}: the environment variable names (string literals) each module-level
    assignment reads: in its value, through a name or function defined earlier in the file, or
    in the test of an `if` around it. What the settings derive from a variable follows it."""
    import ast
    found = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                tree = ast.parse(f.read())
        except (OSError, SyntaxError, ValueError):
            continue
        for name, names in module_reads(ast, tree).items():
            if name.isupper() and names:
                found.setdefault(name, set()).update(names)
    return dict((name, sorted(names)) for name, names in found.items())

def module_reads(ast, tree):
    """{name: literals} for every name a module's top-level statements assign or call into."""
    reads = {}

    def literals(node):
        out = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) \
                    and ENV_LITERAL.match(sub.value):
                out.add(sub.value)
            elif isinstance(sub, ast.Name) and sub.id in reads:
                out |= reads[sub.id]
        return out

    def assigned(stmt):
        if isinstance(stmt, ast.Assign):
            return stmt.targets
        if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            return [stmt.target]
        call = stmt.value  # X.append(...), X.update(...)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            return [call.func.value]
        return []

    def visit(statements, guard):
        for stmt in statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                reads[stmt.name] = literals(stmt)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
                value = literals(stmt.value) if stmt.value is not None else set()
                for target in assigned(stmt):  # X = ..., X[k] = ..., X.append(...)
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            reads[name.id] = reads.get(name.id, set()) | value | guard
            elif isinstance(stmt, ast.If):
                inner = guard | literals(stmt.test)
                visit(stmt.body, inner)
                visit(stmt.orelse, inner)
            elif isinstance(stmt, (ast.Try, ast.With)):
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, block, []), guard)
                for handler in getattr(stmt, "handlers", []):
                    visit(handler.body, guard)

    visit(tree.body, set())
    return reads

@fact("settings")
def _():
    if not SETTINGS:
        return {"skipped": "not a Django app"}
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django
    django.setup()
    from django.conf import settings
    roots = sorted({WORKDIR, os.path.realpath(WORKDIR)} - {"/"}, key=len, reverse=True)
    values = {}
    for key in dir(settings):
        if not key.isupper():
            continue
        value = getattr(settings, key)
        if key == "DATABASES":
            value = {alias: {"ENGINE": c.get("ENGINE")} for alias, c in value.items()}
        text = repr(value)
        for root in roots:
            text = text.replace(root, "<project>")
        values[key] = text
    return {"module": SETTINGS, "values": values, "sources": env_sources(settings_files())}

OUT["_probe"] = {"pid": PID, "env_source": SOURCE, "seconds": TOOK, "nice": os.nice(0)}
sys.stdout.write("\n@@PARITY-FACTS@@" + json.dumps(OUT, sort_keys=True, default=str) + "\n")
sys.stdout.flush()
os._exit(0)
