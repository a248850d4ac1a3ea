"""The README states what params.yaml holds."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_readme_mode_table_matches_the_presets():
    readme = (REPO / "README.md").read_text()
    table = re.search(r"<!-- mode-table.*?-->\n(.*?)<!-- /mode-table -->", readme, re.S).group(1)
    presets = yaml.safe_load((REPO / "params.yaml").read_text())["presets"]
    rows = [line.strip("|").split("|") for line in table.strip().splitlines()[2:]]
    stated = {cells[0].strip(): (cells[1].strip(), cells[2].strip()) for cells in rows}
    flat = {}
    for mode in ("sample", "full"):
        for section, values in presets[mode].items():
            for key, value in values.items():
                flat.setdefault(f"{section}.{key}", {})[mode] = value
    assert set(stated) == set(flat), "README's mode table and params.yaml's presets name other keys"
    for key, (sample, full) in stated.items():
        assert (yaml.safe_load(sample), yaml.safe_load(full)) == (flat[key]["sample"], flat[key]["full"]), key
