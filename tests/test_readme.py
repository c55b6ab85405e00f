"""The example in README.rst runs and prints what its comment says."""

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.rst"


def _python_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split(".. code-block:: python\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def test_the_readme_example_prints_what_its_comment_shows():
    source = _python_example()
    expected = re.search(r"print\(.*\)  # (.*)$", source, re.MULTILINE).group(1)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(source, str(README), "exec"), {})
    assert output.getvalue() == expected + "\n"
