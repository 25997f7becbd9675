"""Building small Combined Log Format files for tests."""

import gzip
from pathlib import Path


def log_line(
    client: str = "192.0.2.1",
    ident: str = "-",
    timestamp: str = "10/Oct/2026:13:55:36 +0000",
    request: str = "GET /index.html HTTP/1.1",
    status: str = "200",
    size: str = "512",
    referer: str = "-",
    user_agent: str = "Mozilla/5.0",
    user: str = "-",
) -> str:
    """A well-formed Combined Log Format line; change one part to make it malformed."""
    return f'{client} {ident} {user} [{timestamp}] "{request}" {status} {size} "{referer}" "{user_agent}"'


def write_log(path: Path, lines: list[str]) -> Path:
    """Write `lines` newline-terminated, gzip-compressed when the name ends in .gz."""
    data = "".join(line + "\n" for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path
