#!/usr/bin/env bash
# Retrains the bundled model (models/synth-birds-64) from nothing by the procedure that made it: the synth-birds
# data, DAMSM text-encoder pretraining, DF-GAN training in five stages, a slim float16 copy (no optimizer state)
# into models/, and its eval figures in the manifest. About 11 h on a 2-core machine. Resumable: each stage picks up where
# it stopped. The committed run was made over several sessions while the training kernels got faster, so a retrain
# computes the same maths with other float roundings, not the same bits.
#   npm run retrain:bundled            (or STEPS=N to end the last stage elsewhere; WORK=DIR for the run folders)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-5000}"
WORK="${WORK:-runs/bundled}"
DATA="${DATA:-data/birds}"
dfgan() { node bin/dfgan.mjs "$@"; }
# The served generator of a run: the average of its last 8 checkpoints (2,000 steps) ending at step $2; D, head
# and text encoder are the last checkpoint's. Shorter runs or steps off the 250 grid take the last checkpoint.
average() {
  local run="$1" end="$2" dest="$3" ckpts=() dtype=()
  [ "$dest" = models/synth-birds-64 ] && dtype=(--dtype float16)
  if [ "$end" -ge 2000 ] && [ $(( end % 250 )) -eq 0 ]; then
    for s in $(seq $(( end - 1750 )) 250 "$end"); do ckpts+=("$run/ckpt-$(printf '%07d' "$s")"); done
  else
    ckpts=("$run")
  fi
  node --import tsx scripts/average-checkpoints.ts "${dtype[@]}" "$dest" "${ckpts[@]}"
}

[ -f "$DATA/synth-birds.json" ] || dfgan synth --out "$DATA" --count 10000 --size 128 --seed 1
# --flip on in stages 1-3a: the model was begun with random flips, before they were found to contradict the
# captions' facing (now off by default on synth-birds data).
dfgan pretrain-text --data "$DATA" --out "$WORK/damsm" --name damsm-judge --steps 601 --lr 1e-3 --encoder-size 32 \
  --size 64 --nf 8 --checkpoint-every 100 --seed 2 --sentence-spread 0.25 --flip on
# Two replicas: the result depends on the replica count (mismatch pairs are drawn within each replica's share).
train() {
  dfgan train --data "$DATA" --name synth-birds-64 --size 64 --batch-size 16 --checkpoint-every 250 \
    --sample-every 250 --log-every 25 --workers 2 --keep-checkpoints 80 "$@"
}
# Stage 1: sentence vectors spread 0.25 per dimension, to step 8,250.
train --nf 8 --out "$WORK/gan" --from "$WORK/damsm" --seed 1 --flip on --steps 8250
# Stage 2: the same run with the spread doubled to 0.5 (G and D read captions more strongly; FID and R-precision
# improved within 750 steps), Adam state carried over, to step 18,000; its generator averaged (the bundled model
# of sessions 3-6).
[ -e "$WORK/gan2/latest" ] || node --import tsx scripts/rescale-sentences.ts "$WORK/gan/ckpt-0008250" "$WORK/gan2" 2
train --nf 8 --out "$WORK/gan2" --seed 1 --flip on --steps 18000
[ -e "$WORK/avg2/latest" ] || average "$WORK/gan2" 18000 "$WORK/avg2"
# Stage 3a: a new run from it with whitened sentence vectors and a projection head (so that D can check facing,
# size and pose, which the long directions of the sentence vectors drowned), still with flips: 1,964 steps.
train --nf 8 --out "$WORK/gan3" --from "$WORK/avg2" --whiten-sentences --head-projection --seed 3 --flip on --steps 1964
# Stage 3b: without flips, D alone for 500 steps (G's rate 1e-12: frozen) so that it learns facing first, then
# (3c, the same run resumed) G and D together.
[ -e "$WORK/gan4/ckpt-0000500" ] || train --nf 8 --out "$WORK/gan4" --from "$WORK/gan3/ckpt-0001964" --seed 4 --flip off \
  --lr-g 1e-12 --steps 500
train --nf 8 --out "$WORK/gan4" --seed 4 --flip off --lr-g 1e-4 --steps 8500
[ -e "$WORK/avg4/latest" ] || average "$WORK/gan4" 8500 "$WORK/avg4"
# Stage 4: a new run from stage 3's averaged model (the bundled model of session 7), widened to nf 16 (--widen: it
# first computes what it did; the new channels add capacity at every resolution) and with G's first layer reading
# the sentence (--fc-sentence, so that captions can set the layout), 4,500 steps (the bundled model of session 8).
train --nf 16 --out "$WORK/gan5" --from "$WORK/avg4" --widen --fc-sentence --seed 12 --flip off --steps 4500
[ -e "$WORK/avg5/latest" ] || average "$WORK/gan5" 4500 "$WORK/avg5"
# Stage 5: a new run from it in which D also scores each real image with its caption, one named attribute changed,
# as a mismatched pair (--counterfactual-pairs), to step $STEPS.
train --nf 16 --out "$WORK/gan6" --from "$WORK/avg5" --counterfactual-pairs 0.5 --seed 13 --flip off --steps "$STEPS"
average "$WORK/gan6" "$STEPS" models/synth-birds-64
latest="$(cat models/synth-birds-64/latest)"
find models/synth-birds-64 -mindepth 1 -maxdepth 1 -name 'ckpt-*' ! -name "$latest" -exec rm -rf {} +
dfgan eval --checkpoint models/synth-birds-64 --data "$DATA" --damsm "$WORK/damsm" --write-manifest --out "$WORK/eval.json"
