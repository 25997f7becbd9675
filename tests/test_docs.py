"""The docs name files that exist: a module, SQL file or test the docs point to was not moved or renamed away."""

import re

from project_code import PROJECT_ROOT

DOCUMENTS = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")])
PATH = re.compile(r"\b(?:tasks|tests|flows|deployments|bench|data)/[\w./-]*\w\.(?:py|sql|html|yaml)\b")
# files a reader makes (by following the guide, building the deployments, running a report), not files in git
WRITTEN_BY_THE_READER = re.compile(
    r"tasks/pipelines/sensors/|flows/sensors\.py|deployments/prefect\.yaml|data/reports/"
)


def test_every_path_the_docs_name_exists():
    named = {
        (document.name, path)
        for document in DOCUMENTS
        for path in PATH.findall(document.read_text())
        if not WRITTEN_BY_THE_READER.search(path)
    }
    assert named, "the pattern finds the docs' paths"
    assert sorted((document, path) for document, path in named if not (PROJECT_ROOT / path).exists()) == []
