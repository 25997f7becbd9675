"""Write deployments/prefect.yaml, for `prefect deploy`, from deployments/base.yaml and every pipeline's
tasks/pipelines/<name>/deployments.yaml.

    python deployments/build.py [--out deployments/prefect.yaml]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: the project's tasks

from tasks.core.deployments import DeploymentsInvalid, deployment_definitions, prefect_file_text  # noqa: E402

PREFECT_FILE = Path(__file__).resolve().parent / "prefect.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PREFECT_FILE, help=f"the file to write (default: {PREFECT_FILE})")
    args = parser.parse_args(argv)
    try:
        document = deployment_definitions()
    except DeploymentsInvalid as error:
        print(f"build: {error}", file=sys.stderr)
        return 2
    args.out.write_text(prefect_file_text(document))
    print(f"{args.out}: {len(document['deployments'])} deployments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
