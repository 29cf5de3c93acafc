"""The library behind the benchmark entry points (`python -m benchmarks.<name>`): machine and versions of a number
(`env`), timing (`timing`), training and scoring through the CLI (`budget_runs`, `curves`, `budget_report`),
throughput (`throughput`, `method_speed`, `loaders`, `embed_speed`), the LightlySSL references (`lightly_peer`,
`parity_*`), the GPU check's sections (`gpu_*`) and the video studies (`next_frame`, `video_jepa*`)."""
