"""artifacts/<experiment>_ct2: the export converted for CTranslate2 / faster-whisper (int8)."""

from azasr.ct2_export import directory_bytes, export_ct2
from azasr.stage import experiment_path, run_stage


def main(params):
    out = experiment_path(params, "artifacts", "ct2")
    manifest = export_ct2(experiment_path(params, "artifacts", "final"), out, params["ct2_export"]["quantization"])
    return {"artifact": str(out), "quantization": manifest["quantization"],
            "size_mb": round(directory_bytes(out) / 1e6, 1)}


if __name__ == "__main__":
    run_stage("ct2_export", main)
