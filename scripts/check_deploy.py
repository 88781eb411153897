#!/usr/bin/env python3
"""Checks the deploy files against what they deploy: the Helm chart, the plain Kubernetes
manifest, the Dockerfile, docker-compose.yml, the Prometheus rules and the Grafana board.

Run through scripts/check-deploy.sh, which installs the pinned tools this imports and passes the
flowmart binary and promtool. Every check prints one line; a check that cannot run on this machine
prints NOT RUN and why, and counts as neither passed nor failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from fnmatch import fnmatchcase
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy/helm/flowmart"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion: the pod-index label) and the
# newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
NAMESPACE = "shop"
RELEASE = "flowmart"


class Failed(Exception):
    """A check found something wrong."""


class NotRun(Exception):
    """A check that cannot run here; the message says why."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


class Report:
    def __init__(self) -> None:
        self.passed = self.failed = 0
        self.not_run: list[str] = []

    def check(self, name: str, function, *args) -> None:
        try:
            detail = function(*args)
        except NotRun as reason:
            self.not_run.append(f"{name}: {reason}")
            print(f"NOT RUN  {name}: {reason}")
        except Failed as problem:
            self.failed += 1
            print(f"FAILED   {name}: {problem}")
        except Exception as error:  # noqa: BLE001 - a file not shaped as the check expects
            self.failed += 1
            print(f"FAILED   {name}: {type(error).__name__}: {error}")
        else:
            self.passed += 1
            print(f"ok       {name}" + (f" ({detail})" if detail else ""))

    def fail(self, name: str, problem: str) -> None:
        self.check(name, _raise, Failed(problem))

    def skip(self, name: str, reason: str) -> None:
        self.check(name, _raise, NotRun(reason))


def _raise(error: Exception):
    raise error


# ---------------------------------------------------------------------------------------------
# The Helm chart


def chart_value_sets() -> dict[str, dict | None]:
    """The default values, and each ci/*-values.yaml over them."""
    sets: dict[str, dict | None] = {"default values": None}
    for path in sorted((CHART / "ci").glob("*-values.yaml")):
        sets[path.name] = yaml.safe_load(path.read_text())
    return sets


def render(values: dict | None) -> list[dict]:
    """The chart's manifests as `helm install` would send them (Helm's own engine, offline)."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    documents = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        documents.extend(document for document in yaml.safe_load_all(text) if document)
    return documents


def one(documents: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    expect(len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def check_lint(values: dict | None) -> str:
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.28.0")
    # Severity 1 is INFO ("icon is recommended"); 2 warnings and 3 errors fail.
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    expect(not problems, json.dumps(problems))
    return f"helm {helm.helm_sdk_version()} lint --strict"


def check_schemas(documents: list[dict]) -> str:
    """Every built-in object against the Kubernetes OpenAPI schemas, unknown fields refused."""
    checked = 0
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: check_service_monitor
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
                raise Failed(f"{document['kind']}/{document['metadata']['name']} on {version}: {error}") from None
        checked += 1
    return f"{checked} objects, Kubernetes {' and '.join(KUBERNETES_VERSIONS)}, strict"


def workload(documents: list[dict]) -> dict:
    workloads = [d for d in documents if d["kind"] in ("Deployment", "StatefulSet")]
    expect(len(workloads) == 1, f"expected one workload, found {len(workloads)}")
    return workloads[0]


def container(documents: list[dict]) -> dict:
    return workload(documents)["spec"]["template"]["spec"]["containers"][0]


def check_workload(documents: list[dict], values: dict) -> str:
    pod = workload(documents)
    if values.get("mode") == "cluster":
        expect(pod["kind"] == "StatefulSet", "cluster mode is a StatefulSet")
        spec = pod["spec"]
        expect(spec["podManagementPolicy"] == "Parallel", "podManagementPolicy Parallel")
        expect(spec["replicas"] == values["cluster"]["processes"], "one pod per process")
        headless = one(documents, "Service", spec["serviceName"])
        expect(headless["spec"].get("clusterIP") == "None", "serviceName is a headless Service")
        expect(headless["spec"].get("publishNotReadyAddresses") is True, "peers resolve before they are ready")
        index = next(e for e in container(documents)["env"] if e["name"] == "FLOWMART_PROCESS_INDEX")
        expect(
            index["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']",
            "FLOWMART_PROCESS_INDEX from the pod index",
        )
        return "StatefulSet, Parallel, headless Service, pod index as process index"
    expect(pod["kind"] == "Deployment", "single mode is a Deployment")
    expect(
        pod["spec"]["replicas"] == 1 and pod["spec"]["strategy"]["type"] == "Recreate", "one process, never two at once"
    )
    return "Deployment of 1, Recreate"


def check_security(documents: list[dict]) -> str:
    pod_spec = workload(documents)["spec"]["template"]["spec"]
    pod, own = pod_spec["securityContext"], container(documents)["securityContext"]
    expect(pod.get("runAsNonRoot") is True, "runAsNonRoot")
    expect(pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    expect(own.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    expect(own.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    expect(own.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    uid = dockerfile_user()
    expect(pod.get("runAsUser") == uid, f"runAsUser {pod.get('runAsUser')} is the image's user {uid}")
    expect(pod_spec.get("automountServiceAccountToken") is False, "no service account token")
    return f"non-root ({uid}), read-only root, no capabilities, seccomp RuntimeDefault"


def check_probes(documents: list[dict]) -> str:
    own = container(documents)
    ports = {port["name"] for port in own["ports"]}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        expect(probe in own, f"{probe} is set")
        expect(own[probe]["httpGet"]["port"] in ports, f"{probe} port is a container port")
        paths[probe] = own[probe]["httpGet"]["path"]
    expect(
        paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"},
        f"probe paths {paths}",
    )
    startup = own["startupProbe"]
    window = startup["periodSeconds"] * startup["failureThreshold"]
    expect(window >= 300, f"the startup probe allows {window} s for recovery and cluster forming")
    return f"startup /healthz ({window} s), liveness /healthz, readiness /readyz"


def check_secrets(documents: list[dict], values: dict) -> str:
    """Each secret variable comes from the chart's Secret (holding the key) or an existingSecret."""
    secrets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}
    existing = {values.get(section, {}).get("existingSecret") for section in ("adminToken", "database")}
    existing.add(values.get("kafka", {}).get("sasl", {}).get("existingSecret"))
    variables = []
    for variable in container(documents)["env"]:
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if not reference:
            expect(
                not re.search(r"TOKEN|PASSWORD|DATABASE_URL", variable["name"]),
                f"{variable['name']} is a secret given in plain text",
            )
            continue
        variables.append(variable["name"])
        if reference["name"] in secrets:
            expect(
                reference["key"] in secrets[reference["name"]]["data"],
                f"{variable['name']}: the Secret {reference['name']} has no key {reference['key']}",
            )
        else:
            expect(reference["name"] in existing, f"{variable['name']}: no Secret {reference['name']}")
    expect("FLOWMART_ADMIN_TOKEN" in variables, "the admin token comes from a Secret")
    return ", ".join(variables)


def check_selectors(documents: list[dict]) -> str:
    """Services, the PodDisruptionBudget and the ServiceMonitor find the pods and their ports."""
    template = workload(documents)["spec"]["template"]
    labels = template["metadata"]["labels"]
    ports = {port["name"] for port in template["spec"]["containers"][0]["ports"]}

    def matches(selector: dict) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    for service in (d for d in documents if d["kind"] == "Service"):
        expect(matches(service["spec"]["selector"]), f"Service {service['metadata']['name']} selects the pods")
        for port in service["spec"]["ports"]:
            expect(port["targetPort"] in ports, f"Service {service['metadata']['name']}: no port {port['targetPort']}")
    budget = one(documents, "PodDisruptionBudget")
    expect(matches(budget["spec"]["selector"]["matchLabels"]), "the PodDisruptionBudget selects the pods")
    expect("checksum/config" in template["metadata"]["annotations"], "a changed config replaces the pods")
    return "Services, PodDisruptionBudget"


def check_service_monitor(documents: list[dict], values: dict) -> str:
    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    if not values.get("serviceMonitor", {}).get("enabled"):
        expect(not monitors, "no ServiceMonitor unless enabled")
        return "off"
    # A CRD, which kubernetes-validate has no schema for: its fields that matter, by hand.
    monitor = one(documents, "ServiceMonitor")
    expect(monitor["apiVersion"] == "monitoring.coreos.com/v1", "monitoring.coreos.com/v1")
    selected = [
        service
        for service in documents
        if service["kind"] == "Service"
        and all(
            service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items()
        )
    ]
    expect(len(selected) == 1, f"the ServiceMonitor selects one Service, not {len(selected)}")
    service = selected[0]
    expect(service["spec"].get("publishNotReadyAddresses") is True, "unready pods are scraped too")
    for endpoint in monitor["spec"]["endpoints"]:
        expect(endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}, "endpoint port")
        expect(endpoint["path"] == "/metrics", "endpoint path")
    for label, value in values["serviceMonitor"].get("labels", {}).items():
        expect(monitor["metadata"]["labels"].get(label) == value, f"label {label}")
    return f"scrapes {service['metadata']['name']}"


def placeholder_environment(own: dict) -> dict[str, str]:
    """The container's environment, secrets replaced by stand-ins of the right shape."""
    stand_ins = {"DATABASE_URL": "postgres://flowmart:secret@postgres:5432/flowmart"}
    environment = {}
    for variable in own["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            environment[variable["name"]] = stand_ins.get(variable["name"], "stand-in")
    return environment


def check_pipeline_file(documents: list[dict], flowmart: Path) -> str:
    """`flowmart validate` accepts the rendered pipeline file with the container's environment."""
    config = one(documents, "ConfigMap")["data"]
    own = container(documents)
    environment = placeholder_environment(own)
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "flowmart.toml").write_text(config["flowmart.toml"])
        if "peers.txt" in config:
            (Path(directory) / "peers.txt").write_text(config["peers.txt"])
            # The file names /etc/flowmart/peers.txt, where the pod mounts it.
            environment["FLOWMART_PEERS"] = str(Path(directory) / "peers.txt")
            environment["FLOWMART_PROCESS_INDEX"] = str(workload(documents)["spec"]["replicas"] - 1)
        result = validate(flowmart, Path(directory) / "flowmart.toml", environment)
        expect(result.returncode == 0, f"flowmart validate: {result.stdout}{result.stderr}")
    return "flowmart validate accepts it"


def validate(flowmart: Path, file: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMART") and k != "DATABASE_URL"}
    return subprocess.run(
        [str(flowmart), "validate", str(file)],
        env=clean | environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_peers(documents: list[dict], values: dict) -> str:
    if values.get("mode") != "cluster":
        return "single mode: none"
    statefulset = one(documents, "StatefulSet")
    name, service = statefulset["metadata"]["name"], statefulset["spec"]["serviceName"]
    lines = [
        line
        for line in one(documents, "ConfigMap")["data"]["peers.txt"].splitlines()
        if line.strip() and not line.startswith("#")
    ]
    port = next(p["containerPort"] for p in container(documents)["ports"] if p["name"] == "api")
    timely = next(p["containerPort"] for p in container(documents)["ports"] if p["name"] == "timely")
    expected = [
        f"{name}-{i}.{service}.{NAMESPACE}.svc:{timely} http://{name}-{i}.{service}.{NAMESPACE}.svc:{port}"
        for i in range(statefulset["spec"]["replicas"])
    ]
    expect(lines == expected, f"peers file {lines}, expected {expected}")
    return f"line i names pod i: {lines[0]} …"


def check_values_documented() -> str:
    """Every value in values.yaml has a comment right above it, or is a section of such values."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented, covered_below = [], None  # the indentation under which a documented value's lines go
    for number, line in enumerate(lines):
        key = re.match(r"^( *)([A-Za-z0-9_.-]+):", line)
        if not key:
            continue
        indent = len(key.group(1))
        if covered_below is not None and indent > covered_below:
            continue  # inside a documented value (an example map such as resources)
        covered_below = None
        above = lines[number - 1].strip() if number else ""
        if above.startswith("#"):
            covered_below = indent
            continue
        following = next((n for n in lines[number + 1 :] if n.strip() and not n.strip().startswith("#")), "")
        is_section = line.rstrip().endswith(":") and len(following) - len(following.lstrip()) > indent
        if not is_section:
            undocumented.append(f"line {number + 1}: {key.group(2)}")
    expect(not undocumented, f"values without a comment: {undocumented}")
    return "every value has its comment"


def check_refusals() -> str:
    """Values that must not render, refused with the chart's own message (its fail and required)."""
    refused = {
        "a mode that does not exist": ({"mode": "clustr"}, "mode must be single or cluster"),
        "SASL without credentials": ({"kafka": {"sasl": {"enabled": True}}}, "kafka.sasl.username"),
        "cluster settings in pipeline": ({"pipeline": {"cluster": {"processes": 2}}}, "pipeline.cluster"),
        "a pipeline setting outside a section": ({"pipeline": {"workers": 2}}, "expected a section of keys"),
    }
    for case, (values, message) in refused.items():
        try:
            render(values)
        except helm.HelmRenderError as error:
            expect(message in str(error), f"{case}: refused for another reason: {error}")
            continue
        raise Failed(f"rendered with {case}")
    return ", ".join(refused)


# ---------------------------------------------------------------------------------------------
# The plain manifest


def check_plain_manifest() -> str:
    path = ROOT / "deploy/kubernetes/flowmart-cluster.yaml"
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    check_schemas(documents)
    own = one(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    expect(own.get("startupProbe", {}).get("httpGet", {}).get("path") == "/healthz", "a startup probe on /healthz")
    return f"{len(documents)} objects valid, startup probe"


# ---------------------------------------------------------------------------------------------
# The Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, arguments = current.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        current = ""
    return instructions


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage, the image that runs."""
    instructions = dockerfile_instructions()
    last = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last:]


def dockerfile_user() -> int:
    users = [arguments for keyword, arguments in runtime_stage() if keyword == "USER"]
    expect(len(users) == 1, "the runtime stage sets USER once")
    uid = users[0].split(":")[0]
    expect(uid.isdigit() and int(uid) != 0, f"USER {users[0]} is a numeric, non-root user")
    return int(uid)


def dockerfile_healthcheck() -> str:
    """The HEALTHCHECK's shell command (Docker runs it with /bin/sh -c)."""
    checks = [arguments for keyword, arguments in runtime_stage() if keyword == "HEALTHCHECK"]
    expect(len(checks) == 1, "one HEALTHCHECK in the runtime stage")
    _, _, command = checks[0].partition("CMD ")
    expect(not command.startswith("["), "the HEALTHCHECK uses the shell form")
    return command


def check_dockerfile() -> str:
    stage = runtime_stage()
    dockerfile_user()
    environment = " ".join(arguments for keyword, arguments in stage if keyword == "ENV")
    expect("FLOWMART_LISTEN=0.0.0.0:" in environment, "the image listens on every interface")
    program = dockerfile_healthcheck().split()[0]
    installs = " ".join(arguments for keyword, arguments in stage if keyword == "RUN")
    expect(re.search(rf"apt-get install[^&]*\b{program}\b", installs), f"the HEALTHCHECK's {program} is installed")
    cooked = [a for k, a in dockerfile_instructions() if k == "RUN" and "cargo chef cook" in a]
    expect(cooked, "dependencies are built in a layer of their own (cargo chef cook)")
    return f"USER {dockerfile_user()}, FLOWMART_LISTEN, {program} installed, cargo-chef layer"


def check_dockerignore() -> str:
    """No file that `cargo build -p flowmart` reads is left out of the build context.

    .dockerignore is read as Docker reads the subset it uses: one pattern a line, `#` comments,
    a leading `/` meaning the context's root, `*` within one path component, and a pattern that
    matches a directory leaving out everything under it. Anything else (`!`, `**`) is refused."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        expect(not line.startswith("!") and "**" not in line, f".dockerignore: {line!r} is outside the subset checked")
        patterns.append(line.lstrip("/").split("/"))
    tracked = subprocess.run(
        ["git", "ls-files", "--", "Cargo.toml", "Cargo.lock", *toml_members()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expect(tracked, "git ls-files lists the workspace")

    def ignored(path: str) -> bool:
        parts = path.split("/")
        return any(
            len(pattern) <= len(parts) and all(fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False))
            for pattern in patterns
        )

    left_out = [path for path in tracked if ignored(path)]
    expect(not left_out, f".dockerignore leaves out {left_out[:5]}")
    return f"{len(tracked)} workspace files in the context, {len(patterns)} patterns"


def toml_members() -> list[str]:
    """The directories of the workspace's crates (members may be globs, as Cargo allows)."""
    patterns = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    members = sorted({str(path.relative_to(ROOT)) for pattern in patterns for path in ROOT.glob(pattern)})
    expect(members, "Cargo.toml names its members")
    return members


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def compose() -> dict:
    # PyYAML resolves the anchors and merge keys (<<) as Compose does.
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def flowmart_services(services: dict) -> list[str]:
    """The services running the pipeline: built from this repository, with the image's command."""
    return [name for name, service in services.items() if "build" in service and "command" not in service]


def check_compose_file() -> str:
    spec = compose()
    try:
        PyCompose.from_json(json.dumps(spec))
    except ValueError as error:
        raise Failed(f"not a valid Compose file: {error}") from None
    services = spec["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            expect(dependency in services, f"{name} depends on {dependency}, which is no service")
            condition = service["depends_on"][dependency].get("condition")
            expect(
                condition != "service_healthy" or "healthcheck" in services[dependency],
                f"{name} waits for {dependency} to be healthy, which has no health check",
            )
    pipelines = flowmart_services(services)
    expect(len(pipelines) >= 3, f"flowmart services {pipelines}")
    for name in pipelines:
        expect("healthcheck" in services[name], f"{name} has a health check")
        token = services[name]["environment"].get("FLOWMART_ADMIN_TOKEN", "")
        expect(
            re.fullmatch(r"\$\{FLOWMART_ADMIN_TOKEN:\?[^}]+\}", token),
            f"{name}: FLOWMART_ADMIN_TOKEN {token!r} must be required, with no default",
        )
    return f"compose-spec valid; {', '.join(pipelines)}: health check, admin token required"


def shell(command: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs a health check as Docker does: /bin/sh -c (dash on Debian)."""
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env=os.environ | (environment or {}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def check_flowmart_healthcheck(name: str, test: list[str], api: int, closed: int) -> str:
    expect(test[0] == "CMD-SHELL", f"{name}: a CMD-SHELL check")
    command = test[1]

    def at_port(port: int) -> str:
        """The command with the container's API port replaced, as a URL or a /dev/tcp path spells it."""
        return re.sub(r"\b(127\.0\.0\.1|localhost)([:/])8080\b", rf"\g<1>\g<2>{port}", command)

    expect(at_port(api) != command, f"{name}: the check does not call the API on 127.0.0.1:8080")
    alive = shell(at_port(api))
    expect(alive.returncode == 0, f"{name}: failed against a running flowmart: {alive.stderr.strip()}")
    dead = shell(at_port(closed))
    expect(dead.returncode != 0, f"{name}: succeeded with nothing listening")
    return f"/bin/sh -c {command!r}: 0 against flowmart, {dead.returncode} with nothing listening"


def check_postgres_healthcheck(test: list[str], closed: int) -> str:
    command = test[1]
    if not shutil.which("pg_isready"):
        raise NotRun("pg_isready is not installed here")
    if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode != 0:
        raise NotRun("no Postgres on 127.0.0.1:5432 (scripts/test.sh starts it)")
    expect("-h 127.0.0.1" in command, "pg_isready over TCP, not the init server's socket")
    alive = shell(command, {"PGPORT": "5432"})
    expect(alive.returncode == 0, f"failed against Postgres on 127.0.0.1:5432: {alive.stdout}{alive.stderr}")
    dead = shell(command, {"PGPORT": str(closed)})
    expect(dead.returncode != 0, "succeeded with nothing listening")
    return f"/bin/sh -c {command!r}: 0 against 127.0.0.1:5432, {dead.returncode} with nothing listening"


# The checks that run inside their images, with those images' tools: said, not faked.
IMAGE_ONLY = {
    "kafka": "needs the apache/kafka image's kafka-broker-api-versions.sh (a Kafka distribution "
    "and a JVM) and a broker; none of them is on this machine",
    "schema-registry": "needs Confluent Schema Registry (its image); curl is here but no registry is",
}


def check_dockerfile_healthcheck(api: int, closed: int) -> str:
    command = dockerfile_healthcheck()
    alive = shell(command, {"FLOWMART_LISTEN": f"0.0.0.0:{api}"})
    expect(alive.returncode == 0, f"failed against a running flowmart: {alive.stderr.strip()}")
    dead = shell(command, {"FLOWMART_LISTEN": f"0.0.0.0:{closed}"})
    expect(dead.returncode != 0, "succeeded with nothing listening")
    return f"/bin/sh -c {command!r} with FLOWMART_LISTEN: 0 against flowmart, {dead.returncode} with nothing listening"


def check_probe_paths(documents: list[dict], api: int) -> str:
    """The chart's probe and scrape paths answer 200 on a running flowmart."""
    own = container(documents)
    paths = sorted(
        {own[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")} | {"/metrics"}
    )
    for path in paths:
        # /readyz is 503 until the pipeline has published results.
        status = wait_for_status(f"http://127.0.0.1:{api}{path}", 200, timeout=60)
        expect(status == 200, f"{path} answered {status}")
    return ", ".join(paths) + ": 200"


def wait_for_status(url: str, wanted: int, timeout: float) -> int | None:
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = None
        if status == wanted:
            return status
        time.sleep(0.2)
    return status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_flowmart(flowmart: Path):
    """`flowmart demo` on a free loopback port, stopped (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMART")}
    environment["FLOWMART_ADMIN_TOKEN"] = "check-deploy"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(flowmart), "demo", "--listen", f"127.0.0.1:{port}", "--workers", "1", "--rate", "200"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            if wait_for_status(f"http://127.0.0.1:{port}/healthz", 200, timeout=60) != 200:
                log.seek(0)
                raise Failed(f"flowmart demo did not answer on {port}: {log.read().decode(errors='replace')[-2000:]}")
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------------------------
# Prometheus and Grafana


def exported_metrics() -> dict[str, str]:
    """Every metric the workspace's code exports, name → counter, gauge or histogram."""
    found = {}
    pattern = re.compile(r'metrics::(counter|gauge|histogram)!\(\s*"(flowmart_[a-z0-9_]+)"')
    for member in toml_members():
        for source in (ROOT / member).glob("src/**/*.rs"):
            for kind, name in pattern.findall(source.read_text()):
                found[name] = kind
    expect(len(found) >= 10, f"found only {sorted(found)} in the code")
    return found


def unknown_metrics(text: str, exported: dict[str, str]) -> list[str]:
    unknown = []
    for name in set(re.findall(r"\bflowmart_[a-z0-9_]+", text)):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if not (name in exported or (base != name and exported.get(base) == "histogram")):
            unknown.append(name)
    return sorted(unknown)


def check_promtool(promtool: Path) -> str:
    commands = (["check", "config", "deploy/prometheus.yml"], ["test", "rules", "deploy/prometheus/alerts.test.yml"])
    for command in commands:
        result = subprocess.run([str(promtool), *command], cwd=ROOT, capture_output=True, text=True, check=False)
        expect(result.returncode == 0, f"promtool {' '.join(command)}: {result.stdout}{result.stderr}")
    version = subprocess.run([str(promtool), "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    return f"promtool {version}: check config (with the rules), test rules"


def check_alert_rules() -> str:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    alerts = [rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    tests = yaml.safe_load((ROOT / "deploy/prometheus/alerts.test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    expect(set(alerts) <= fired, f"alerts no test sees firing: {sorted(set(alerts) - fired)}")
    unknown = unknown_metrics((ROOT / "deploy/prometheus/alerts.yml").read_text(), exported_metrics())
    expect(not unknown, f"alerts.yml reads metrics the code does not export: {unknown}")
    return f"{len(alerts)} alerts, each tested firing, every metric exported"


def check_dashboard() -> str:
    board = json.loads((ROOT / "deploy/grafana/dashboards/flowmart.json").read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    expect("process" in variables, "a process variable")
    # A single process has no process label: "All" must match a missing label too.
    expect(
        variables["process"].get("includeAll") and variables["process"].get("allValue") == ".*", "process: All is .*"
    )
    exported, queries = exported_metrics(), 0
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr, queries = target["expr"], queries + 1
            for match in re.finditer(r"\bflowmart_[a-z0-9_]+", expr):
                selector = re.match(r"\{[^}]*\}", expr[match.end() :])
                expect(
                    selector and 'process=~"$process"' in selector.group(0),
                    f'{panel["title"]!r}: {match.group(0)} without process=~"$process"',
                )
            unknown = unknown_metrics(expr, exported)
            expect(not unknown, f"{panel['title']!r} reads metrics the code does not export: {unknown}")
    return f"{queries} queries, each by $process, every metric exported"


# ---------------------------------------------------------------------------------------------


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--flowmart", type=Path, required=True, help="the flowmart binary")
    arguments.add_argument("--promtool", type=Path, required=True)
    options = arguments.parse_args()
    report = Report()

    rendered = {}
    for label, values in chart_value_sets().items():
        merged = values or {}
        report.check(f"chart, {label}: lint", check_lint, values)
        try:
            documents = render(values)
        except helm.HelmError as error:
            report.fail(f"chart, {label}: render", str(error))
            continue
        rendered[label] = documents
        report.check(f"chart, {label}: schemas", check_schemas, documents)
        report.check(f"chart, {label}: workload", check_workload, documents, merged)
        report.check(f"chart, {label}: security", check_security, documents)
        report.check(f"chart, {label}: probes", check_probes, documents)
        report.check(f"chart, {label}: secrets", check_secrets, documents, merged)
        report.check(f"chart, {label}: selectors", check_selectors, documents)
        report.check(f"chart, {label}: ServiceMonitor", check_service_monitor, documents, merged)
        report.check(f"chart, {label}: peers file", check_peers, documents, merged)
        report.check(f"chart, {label}: pipeline file", check_pipeline_file, documents, options.flowmart)
    report.check("chart: values.yaml documented", check_values_documented)
    report.check("chart: refuses bad values", check_refusals)
    report.check("deploy/kubernetes/flowmart-cluster.yaml", check_plain_manifest)
    report.check("Dockerfile", check_dockerfile)
    report.check(".dockerignore", check_dockerignore)
    report.check("docker-compose.yml", check_compose_file)
    report.check("prometheus: promtool", check_promtool, options.promtool)
    report.check("prometheus: alert rules", check_alert_rules)
    report.check("grafana: dashboard", check_dashboard)

    services = compose()["services"]
    try:
        with running_flowmart(options.flowmart) as api:
            closed = free_port()
            for name in flowmart_services(services):
                report.check(
                    f"compose health check, {name}",
                    check_flowmart_healthcheck,
                    name,
                    services[name]["healthcheck"]["test"],
                    api,
                    closed,
                )
            report.check("Dockerfile HEALTHCHECK", check_dockerfile_healthcheck, api, closed)
            if "default values" in rendered:
                report.check("chart probe paths on flowmart", check_probe_paths, rendered["default values"], api)
    except Failed as problem:
        report.fail("flowmart demo for the health checks", str(problem))
    report.check(
        "compose health check, postgres",
        check_postgres_healthcheck,
        services["postgres"]["healthcheck"]["test"],
        free_port(),
    )
    checked = set(flowmart_services(services)) | {"postgres"}
    for name in sorted(set(services) - checked):
        if "healthcheck" in services[name]:
            if name in IMAGE_ONLY:
                report.skip(f"compose health check, {name}", IMAGE_ONLY[name])
            else:
                report.fail(f"compose health check, {name}", "a health check that no check runs")

    if report.not_run:
        print(f"\nnot run here: {len(report.not_run)} (above, with the reason)")
    # Last, alone on its line: the count CI reads.
    print(f"\ndeploy: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
