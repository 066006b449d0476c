#!/usr/bin/env bash
# Every GPU measurement of the GPU-speed issue, in one run of at most 8 minutes of device time
# (each stage has its own timeout; outputs in $OUT, tarred so that they come back together).
# Prepare the carry first on the CPU: bash scripts/gpu_prepare.sh; then on the device:
#   run(command="bash scripts/gpu_bench.sh", carry=[".whl", ".devdata"], timeout_s=540)
# Stages:
#   1. bench train, SimCLR and BYOL, bf16, batch 256, synthetic data, at 224 px and at 64 px:
#      source images/s, the augmentation-on / pre-augmented ratio, the phase shares;
#   2. bench data: img/s against dataset size (1k, 10k, 100k synthetic images), streamed and
#      resident, 64 px;
#   3. the knee study at 64 px (15 epochs, batch 256, SimCLR and BYOL, CLAHE on and off, pairs
#      of all seven ops): a slice one trial at a time, then a slice with 4 trials at once;
#      `medaug study status` gives SSL trials per hour for each, the 336-trial grid's projected
#      wall time follows from them;
#   4. the same study at 128 px with 4 trials at once, as many trials as fit.
source "$(dirname "$0")/gpu_env.sh" /tmp/gpu-out
knee="medmnist:$PWD/.devdata/knee128.npz"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
    | tee -a "$out/gpu.txt"
for px in 224 64; do
    timeout 75 python3 -m medaug bench train --data synthetic:4096 --size "$px" --batch 256 \
        --steps 15 --warmup 5 --rounds 3 --accelerator gpu --precision bf16-mixed \
        2>&1 | tee "$out/bench_train_${px}px_b256.txt"
done
timeout 75 python3 -m medaug bench data --dataset-sizes 1000,10000,100000 --size 64 \
    --batch 256 --steps 15 --warmup 5 --rounds 3 --accelerator gpu --precision bf16-mixed \
    2>&1 | tee "$out/bench_data_64px_b256.txt"
OPS="crop,rotate(degrees=10),flip(p=0.5),blur(sigma=0.875-1.75,kernel_size=3,p=0.2),chessboard(cell=17.5,shift=4.375),erase(area=0.01-0.1,aspect=0.5-2,p=0.3),intensity"
study() {  # study FOLDER SIZE SECONDS [options]
    local folder=$1 px=$2 seconds=$3
    shift 3
    timeout -s TERM "$seconds" python3 -m medaug study run --data "$knee" --size "$px" \
        --methods simclr,byol --preset pairs --ops "$OPS" --factor clahe=on,off --seeds 3 \
        --epochs 15 --batch-size 256 --supervised-epochs 15 --accelerator gpu \
        --out "$folder" "$@" 2>&1 | tail -40
    python3 -m medaug study status "$folder" 2>&1
    cp "$folder/trials.csv" "$out/$(basename "$folder")_trials.csv" 2>/dev/null || true
}
study /tmp/studies/knee64-serial 64 90 | tee "$out/study_64px_serial.txt"
study /tmp/studies/knee64-x4 64 100 --trials-per-gpu 4 | tee "$out/study_64px_x4.txt"
study /tmp/studies/knee128-x4 128 100 --trials-per-gpu 4 | tee "$out/study_128px_x4.txt"
mkdir -p "${OUT:-out}" && tar -czf "${OUT:-out}/gpu_bench.tar.gz" -C "$out" . && ls -l "${OUT:-out}"
