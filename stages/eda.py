"""Seed stage 5: exploratory analysis of the validated corpus: charts and a summary table."""

from azasr.eda import letter_counts, load_columns, plot_durations, plot_letters, plot_text_lengths, summary
from azasr.io import write_csv
from azasr.stage import experiment_path, run_stage


def main(params):
    frame = load_columns("data/validated")
    plot_durations(frame, "charts/duration_distribution.png")
    plot_text_lengths(frame, "charts/text_length_distribution.png")
    plot_letters(letter_counts(frame), "charts/letter_frequency.png")
    write_csv(experiment_path(params, "outputs", "data_summary.csv"), summary(frame))
    return {"clips": len(frame)}


if __name__ == "__main__":
    run_stage("eda", main)
