"""The deployment examples (deploy/, Dockerfile) hold together with the code they run.

Every manifest parses and passes the Kubernetes API schemas; every ``bulkpatch`` command line in
the manifests and in the Airflow DAG names only subcommands and options the real command line
has (read from the click commands themselves, so renaming an option fails here); the
environment they set is what the code reads; the image runs as a user that is not root and
never holds a key.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml

import bulkpatch.cli.commands  # noqa: F401  (commands register on import)
from bulkpatch.cli import cli
from bulkpatch.core.options import RunOptions
from bulkpatch.transport.credentials import DEFAULT_KEY_ENV
from bulkpatch.version import __version__

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
DAG = DEPLOY / "airflow" / "bulkpatch_dag.py"
DOCKERFILE = ROOT / "Dockerfile"
#: The oldest Kubernetes the manifests are for (backoffLimitPerIndex is on by default from
#: 1.29), and the newest the schema package knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
#: How a shard's run directory is named: <sheet-stem>-<UTC timestamp>-shard-K-of-N.
SHARD_DIR_EXAMPLE = "campaigns-20261130T013000Z-shard-{k}-of-{n}"


# ----------------------------------------------------------------------------------------------
# Reading the manifests
# ----------------------------------------------------------------------------------------------


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def all_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for doc in documents(path):
            yield path, doc


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    kind = doc.get("kind")
    if kind == "CronJob":
        spec: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if kind in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
        spec = doc["spec"]["template"]["spec"]
        return spec
    return None


@dataclass(frozen=True)
class Container:
    path: Path
    doc: dict[str, Any]
    pod: dict[str, Any]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.doc['metadata']['name']}/{self.spec['name']}"

    @property
    def runs_bulkpatch_image(self) -> bool:
        return "bulkpatch" in self.spec.get("image", "")

    @property
    def env(self) -> dict[str, dict[str, Any]]:
        return {item["name"]: item for item in self.spec.get("env", [])}

    @property
    def text(self) -> str:
        """Its command and args, as one text (to look for ``$(NAME)`` / ``$NAME``)."""
        return "\n".join(map(str, [*self.spec.get("command", []), *self.spec.get("args", [])]))


def containers(*, init: bool = True) -> list[Container]:
    found = []
    for path, doc in all_documents():
        pod = pod_spec(doc)
        if pod is None:
            continue
        specs = pod.get("containers", []) + (pod.get("initContainers", []) if init else [])
        found += [Container(path, doc, pod, spec) for spec in specs]
    return found


def bulkpatch_containers(workload: str | None = None) -> list[Container]:
    """The containers running the bulkpatch image (of the workload of that name)."""
    return [
        c
        for c in containers()
        if c.runs_bulkpatch_image and workload in (None, c.doc["metadata"]["name"])
    ]


# ----------------------------------------------------------------------------------------------
# Finding bulkpatch command lines
# ----------------------------------------------------------------------------------------------

#: One command line: the words after ``bulkpatch``; None for a word computed at run time.
Argv = tuple[str | None, ...]


def literal(word: str | None) -> str | None:
    """``word`` if it is known before the program runs (no variable in it)."""
    return None if word is None or "$" in word else word


def shell_command_lines(script: str) -> list[Argv]:
    lines = []
    for line in script.replace("\\\n", " ").splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if "bulkpatch" in words:
            lines.append(tuple(words[words.index("bulkpatch") + 1 :]))
    return lines


def container_command_lines(container: Container) -> list[Argv]:
    command = [str(w) for w in container.spec.get("command", [])]
    args = [str(w) for w in container.spec.get("args", [])]
    if not command:  # the image's entrypoint is bulkpatch
        return [tuple(args)]
    if command[0] == "bulkpatch":
        return [tuple(command[1:] + args)]
    if command[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and "-c" in command:
        return shell_command_lines("\n".join(command[command.index("-c") + 1 :] + args))
    return []  # another program (python in an init container)


def dag_command_lines(source: str) -> list[Argv]:
    """Every list in the DAG that starts with the word ``bulkpatch`` (a name given a string at
    module level stands for that string)."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)
    }
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.List)
            and len(node.elts) > 1
            and isinstance(node.elts[0], ast.Constant)
            and node.elts[0].value == "bulkpatch"
        ):
            elts = [constants.get(e.id, e) if isinstance(e, ast.Name) else e for e in node.elts[1:]]
            words = tuple(
                e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None
                for e in elts
            )
            lines.append(words)
    return lines


def every_command_line() -> list[tuple[str, Argv]]:
    found = []
    for container in bulkpatch_containers():
        for n, argv in enumerate(container_command_lines(container)):
            found.append((f"{container.name}#{n}", argv))
    for n, argv in enumerate(dag_command_lines(DAG.read_text(encoding="utf-8"))):
        found.append((f"{DAG.name}#{n}", argv))
    return found


def option_problems(argv: Argv) -> list[str]:
    """What in one ``bulkpatch`` command line the real command line would refuse."""
    if not argv or literal(argv[0]) is None:
        return ["the subcommand is not written out"]
    name = argv[0]
    command = cli.commands.get(name)
    if command is None:
        return [f"bulkpatch has no command {name!r} (it has {', '.join(sorted(cli.commands))})"]
    options = {
        opt: param
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    }
    problems = []
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        if word is None or not word.startswith("-") or word == "-":
            continue
        flag, has_value, value = word.partition("=")
        param = options.get(flag)
        if param is None:
            problems.append(f"`bulkpatch {name}` has no option {flag}")
            continue
        if param.is_flag or param.count:
            continue
        if not has_value:
            if not words:
                problems.append(f"{flag} needs a value")
                continue
            value = words.pop(0)  # type: ignore[assignment]
        known = literal(value)
        if known is not None and not isinstance(param.type, click.Path | click.File):
            try:
                param.type.convert(known, param, click.Context(command))
            except click.BadParameter as exc:
                problems.append(f"{flag} {known}: {exc.format_message()}")
    return problems


COMMAND_LINES = every_command_line()


@pytest.mark.parametrize(("where", "argv"), COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_every_bulkpatch_command_line_names_only_options_the_cli_has(
    where: str, argv: Argv
) -> None:
    assert option_problems(argv) == []


def test_the_examples_hold_a_run_a_sharded_run_and_a_merge() -> None:
    subcommands = [argv[0] for _, argv in COMMAND_LINES]
    assert subcommands.count("run") >= 3  # the CronJob, the Indexed Job, the DAG's shards
    assert subcommands.count("merge") == 2  # the merge Job and the DAG's merge


def test_the_option_check_fails_for_an_option_or_a_value_the_cli_does_not_take() -> None:
    assert option_problems(("run", "s.csv", "--rate", "10", "--concurrency", "8", "-q")) == []
    assert option_problems(("run", "s.csv", "--rate", "$(RATE)", "--report-dir", None)) == []
    assert option_problems(("run", "s.csv", "--rait", "10")) == [
        "`bulkpatch run` has no option --rait"
    ]
    assert option_problems(("run", "s.csv", "--concurrency", "0"))[0].startswith(
        "--concurrency 0: "
    )
    assert option_problems(("runn", "s.csv"))[0].startswith("bulkpatch has no command 'runn'")
    assert option_problems(("run", "s.csv", "--rate")) == ["--rate needs a value"]


def test_the_command_line_finders_find_what_they_should() -> None:
    script = 'set -eu\nexec bulkpatch merge "$dir"/*-of-4 \\\n  --out "$dir/merged"  # done\n'
    assert shell_command_lines(script) == [("merge", "$dir/*-of-4", "--out", "$dir/merged")]
    source = (
        'SHEET = "s.csv"\n'
        'x = ["bulkpatch", "run", SHEET, "--shard", f(), "--rate", "5"]\n'
        'y = ["ls", "-l"]\n'
        'z = ["bulkpatch"]\n'
    )
    assert dag_command_lines(source) == [("run", "s.csv", "--shard", None, "--rate", "5")]


# ----------------------------------------------------------------------------------------------
# The manifests
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_parses_and_passes_the_kubernetes_schemas(path: Path, version: str) -> None:
    docs = documents(path)
    assert docs
    for doc in docs:
        assert doc["metadata"]["name"]
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_examples_are_a_cronjob_an_indexed_job_with_redis_and_a_merge() -> None:
    kinds = {(path.name, doc["kind"], doc["metadata"]["name"]) for path, doc in all_documents()}
    assert ("cronjob.yaml", "CronJob", "bulkpatch-nightly") in kinds
    assert {
        ("indexed-job.yaml", "Deployment", "bulkpatch-redis"),
        ("indexed-job.yaml", "Service", "bulkpatch-redis"),
        ("indexed-job.yaml", "Job", "bulkpatch-shards"),
        ("indexed-job.yaml", "Job", "bulkpatch-merge"),
    } <= kinds


def option_value(argv: Argv, flag: str) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word == flag:
            return argv[i + 1]
    return None


def one(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def test_the_nightly_job_never_runs_twice_at_once_and_is_not_retried_blindly() -> None:
    cron = one([d for _, d in all_documents() if d["kind"] == "CronJob"])
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    argv = one(container_command_lines(one(bulkpatch_containers("bulkpatch-nightly"))))
    assert argv[0] == "run"
    # Each night carries on the same run inside the window, until it is done.
    assert "--continue" in argv
    window = option_value(argv, "--window")
    assert window is not None
    assert RunOptions(window=window).window == window  # it parses, with its zone named
    # The webhook URL is a secret: from the environment bulkpatch reads, not the command line.
    assert "--notify-url" not in argv
    notify = one(bulkpatch_containers("bulkpatch-nightly")).env["BULKPATCH_NOTIFY_URL"]
    assert notify["valueFrom"]["secretKeyRef"]["name"]
    assert run_option("--notify-url").envvar == "BULKPATCH_NOTIFY_URL"


def test_the_shards_the_index_and_the_merge_agree_on_their_number_and_directory() -> None:
    shards = one([d for _, d in all_documents() if d["metadata"]["name"] == "bulkpatch-shards"])
    spec = shards["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["backoffLimitPerIndex"] == 0
    n = spec["completions"]
    assert spec["parallelism"] == n
    shard = one(
        [c for c in bulkpatch_containers("bulkpatch-shards") if c.spec["name"] == "bulkpatch"]
    )
    argv = one(container_command_lines(shard))
    assert option_value(argv, "--shards") == str(n)
    assert option_value(argv, "--shard") is None  # the index comes from JOB_COMPLETION_INDEX

    merge = one(bulkpatch_containers("bulkpatch-merge"))
    assert merge.env["SHARDS"]["value"] == str(n)
    script = "\n".join(merge.spec["args"])
    merge_dir = one(re.findall(r'^dir="([^"]+)"$', script, re.MULTILINE))

    def same(text: str) -> str:  # $(RUN_ID), ${RUN_ID} and $RUN_ID alike
        return re.sub(r"\$[({]?([A-Z_][A-Z0-9_]*)[)}]?", r"{\1}", text)

    assert same(option_value(argv, "--report-dir") or "") == same(merge_dir)
    merge_argv = one(container_command_lines(merge))
    pattern = merge_argv[1]
    assert pattern is not None
    glob = pattern.replace("$dir/", "").replace("$SHARDS", str(n))
    for k in range(1, n + 1):
        assert fnmatch.fnmatch(SHARD_DIR_EXAMPLE.format(k=k, n=n), glob)
    assert not fnmatch.fnmatch(SHARD_DIR_EXAMPLE.format(k=1, n=n + 1), glob)
    assert option_value(merge_argv, "--out") == "$dir/merged"


def test_the_rate_store_is_the_redis_service_of_the_same_file() -> None:
    for container in bulkpatch_containers():
        for argv in container_command_lines(container):
            url = option_value(argv, "--rate-store")
            if url is None:
                continue
            found = re.fullmatch(r"redis://([a-z0-9-]+):(\d+)/(\d+)", url)
            assert found, url
            host, port = found.group(1), int(found.group(2))
            services = [
                d
                for d in documents(container.path)
                if d["kind"] == "Service" and d["metadata"]["name"] == host
            ]
            assert [p["port"] for p in one(services)["spec"]["ports"]] == [port]


def test_every_volume_claim_is_defined_and_every_secret_is_created_in_the_instructions() -> None:
    claims = {
        d["metadata"]["name"] for _, d in all_documents() if d["kind"] == "PersistentVolumeClaim"
    }
    text = "\n".join(p.read_text(encoding="utf-8") for p in MANIFESTS)
    created = set(re.findall(r"kubectl create secret generic ([a-z0-9-]+)", text))
    for container in containers():
        for volume in container.pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for item in container.env.values():
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] in created, f"{container.name}: no instruction makes {ref}"


# ----------------------------------------------------------------------------------------------
# The environment
# ----------------------------------------------------------------------------------------------


def names_the_code_reads() -> set[str]:
    """Environment names bulkpatch can read: upper-case string constants in its source, and
    the ``envvar`` of every option."""
    names = set()
    for path in (ROOT / "src" / "bulkpatch").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", node.value)
            ):
                names.add(node.value)
    for command in cli.commands.values():
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def test_the_environment_a_bulkpatch_container_gets_is_read_by_the_code_or_its_command() -> None:
    known = names_the_code_reads()
    for container in bulkpatch_containers():
        for name in container.env:
            used = re.search(rf"\$(\({name}\)|\{{{name}\}}|{name}\b)", container.text)
            assert name in known or used, f"{container.name}: nothing reads {name}"


def test_the_key_comes_from_a_secret_as_the_variable_bulkpatch_reads() -> None:
    assert DEFAULT_KEY_ENV == "SARVAM_API_KEY"
    for container in bulkpatch_containers():
        argvs = container_command_lines(container)
        if not any(argv and argv[0] in ("run", "resume") for argv in argvs):
            continue
        assert all(option_value(argv, "--api-key-env") is None for argv in argvs)
        key = container.env[DEFAULT_KEY_ENV]
        assert "value" not in key
        assert key["valueFrom"]["secretKeyRef"]["name"]


def test_no_manifest_writes_a_secret_as_a_plain_value() -> None:
    for container in containers():
        for name, item in container.env.items():
            if re.search(r"KEY|TOKEN|SECRET|PASSWORD|NOTIFY", name):
                assert "value" not in item, f"{container.name}: {name} must come from a Secret"


def test_shards_from_the_completion_index_are_read_by_the_code() -> None:
    uses_shards = any(option_value(argv, "--shards") for _, argv in COMMAND_LINES)
    assert uses_shards
    assert "JOB_COMPLETION_INDEX" in names_the_code_reads()


def test_every_pod_running_bulkpatch_runs_as_the_images_user_who_is_not_root() -> None:
    uid, _ = image_user()
    for container in bulkpatch_containers():
        security = container.pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == uid
        assert container.spec["securityContext"]["allowPrivilegeEscalation"] is False


# ----------------------------------------------------------------------------------------------
# The Airflow DAG (Airflow is not installed: read as source)
# ----------------------------------------------------------------------------------------------


def test_the_dag_maps_a_task_over_the_shards_then_merges_whatever_they_did() -> None:
    tree = ast.parse(DAG.read_text(encoding="utf-8"))
    expands = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "expand"
    ]
    assert [k.arg for k in one(expands).keywords] == ["shard"]
    merge = one(
        [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == "merge"
        ]
    )
    decorator = one(merge.decorator_list)
    assert isinstance(decorator, ast.Call)
    assert {k.arg: ast.literal_eval(k.value) for k in decorator.keywords} == {
        "trigger_rule": "all_done"
    }


def test_the_dag_gives_the_shards_the_key_under_the_name_bulkpatch_reads() -> None:
    tree = ast.parse(DAG.read_text(encoding="utf-8"))
    key_env = one(
        [
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "KEY_ENV"
        ]
    )
    assert list(ast.literal_eval(key_env)) == [DEFAULT_KEY_ENV]


# ----------------------------------------------------------------------------------------------
# The image
# ----------------------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def image_user() -> tuple[int, int | None]:
    user = [rest for word, rest in instructions(DOCKERFILE) if word == "USER"][-1]
    uid, _, gid = user.partition(":")
    return int(uid), int(gid) if gid else None


def test_the_image_is_slim_python_311_and_runs_bulkpatch_as_a_user_who_is_not_root() -> None:
    steps = instructions(DOCKERFILE)
    assert [rest for word, rest in steps if word == "FROM"] == ["python:3.11-slim"]
    uid, gid = image_user()  # numeric, so Kubernetes' runAsNonRoot can check it
    assert uid != 0
    assert gid != 0
    assert [word for word, _ in steps].index("USER") > max(
        i for i, (word, _) in enumerate(steps) if word == "RUN"
    )
    assert [rest for word, rest in steps if word == "ENTRYPOINT"] == ['["bulkpatch"]']
    assert any(word == "RUN" and "pip install ." in rest for word, rest in steps)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "bulkpatch" in scripts


def test_the_image_never_holds_a_key() -> None:
    for word, rest in instructions(DOCKERFILE):
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(?i)key|token|secret|password", rest), rest
        assert DEFAULT_KEY_ENV not in rest or word not in ("ENV", "ARG")


def test_the_build_context_holds_only_what_pip_install_needs() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"  # everything is left out unless named
    included = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for word, rest in instructions(DOCKERFILE):
        if word == "COPY":
            copied.update(s.rstrip("/") for s in rest.split()[:-1] if not s.startswith("--"))
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert {"pyproject.toml", readme, "src"} <= copied
    assert copied <= included
    for name in copied:
        assert (ROOT / name).exists()


def run_option(flag: str) -> click.Option:
    command = cli.commands["run"]
    return one([p for p in command.params if isinstance(p, click.Option) and flag in p.opts])


def test_the_image_tags_in_the_dockerfile_and_the_manifests_are_the_version() -> None:
    texts = [DOCKERFILE.read_text(encoding="utf-8")]
    texts += [path.read_text(encoding="utf-8") for path in MANIFESTS]
    tags = {tag for text in texts for tag in re.findall(r"\bbulkpatch:([\w.+-]+)", text)}
    assert tags == {__version__}
