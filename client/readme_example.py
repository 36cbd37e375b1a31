"""The example session of README.md as a runnable bash script.

The session is the ```console block between the example-session markers.
Lines starting with "$ " are commands; other lines are their output. A
command whose first output line is "hecatectl: CODE: ..." is expected to
fail with exit code 1 and that code on stderr; every other command must exit 0.
"""

import re
import shlex
from typing import List, NamedTuple, Optional

BEGIN = "<!-- example-session:begin -->"
END = "<!-- example-session:end -->"
METRICS_ADDRESS = "127.0.0.1:9464"


class Command(NamedTuple):
    line: str
    # "FAILED_PRECONDITION" when the README shows the command failing.
    expected_error: Optional[str]


def extract_commands(readme: str) -> List[Command]:
    start = readme.index(BEGIN)
    end = readme.index(END, start)
    lines = readme[start:end].splitlines()
    commands: List[Command] = []
    for i, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        error = re.match(r"^hecatectl: ([A-Z_]+): ", following)
        commands.append(Command(line[2:], error.group(1) if error else None))
    return commands


def build_script(commands: List[Command], hecatectl: str, target: str,
                 metrics_target: Optional[str]) -> str:
    """Bash that runs each command in one shell (so variables carry over) with
    `hecatectl` talking to `target`; commands that use the metrics port are
    pointed at `metrics_target`, or skipped when it is None."""
    script = [
        "set -u -o pipefail",
        f"hecatectl() {{ {shlex.quote(hecatectl)} --target={shlex.quote(target)} \"$@\"; }}",
        'ERR=$(mktemp)',
    ]
    for command in commands:
        line = command.line
        if METRICS_ADDRESS in line:
            if metrics_target is None:
                script.append(f"echo {shlex.quote('skipped (metrics port unknown): ' + line)}")
                continue
            line = line.replace(METRICS_ADDRESS, metrics_target)
        script.append(f"echo {shlex.quote('$ ' + line)}")
        script.append(f"{{ {line} ; }} 2>\"$ERR\"; rc=$?; cat \"$ERR\"")
        if command.expected_error:
            code = command.expected_error
            script.append(
                f"if [ $rc -ne 1 ] || ! grep -q '^hecatectl: {code}: ' \"$ERR\"; then "
                f"echo {shlex.quote('FAILED: expected exit 1 with ' + code + ': ' + line)}; "
                "exit 1; fi")
        else:
            script.append(
                f"if [ $rc -ne 0 ]; then "
                f"echo \"FAILED: exit $rc: \"{shlex.quote(line)}; exit 1; fi")
    script.append("echo 'README example session: every command behaved as printed'")
    return "\n".join(script) + "\n"
