"""Probe of `data.source` (always run): data/source.json, what the source holds (each parquet file's
relative name, size and sha256, or the hub dataset's commit). The prepare stage depends on it, so
changed files or a new hub revision rerun prepare and everything after it, while an unchanged source
writes the same bytes and DVC skips the rest."""

from azasr.data import resolve_source, source_fingerprint
from azasr.io import write_json
from azasr.stage import run_stage

FINGERPRINT = "data/source.json"


def main(params):
    source = resolve_source(params["data"])
    write_json(FINGERPRINT, source_fingerprint(source))


if __name__ == "__main__":
    # No stage metrics file: this stage runs on every `dvc repro`, and a wall time in a declared
    # output would change dvc.lock each time.
    run_stage("source", main, record=False)
