#!/usr/bin/env bash
# Issue 5's knee evidence (2-core CPU): Grad-CAM panels of the 64 px SimCLR, BYOL and supervised
# knee encoders of scripts/knee_eval.sh and of their random-init starting point (seed 0), on the
# same 8 test images, and ROAD faithfulness of each model's maps on all 370 test images: of the
# abnormal logit at the last convolutional block (2x2 at 64 px) and at layer3 (4x4), and of each
# model's own call at layer3. A configuration whose folder is complete is not run again.
set -euo pipefail
export MEDAUG_DATA_DIR=${MEDAUG_DATA_DIR:-../shared/data}
M=.venv/bin/medaug
D=docs/explain
mkdir -p $D
RUNS="runs/knee64-simclr runs/knee64-byol runs/knee64-supervised/f1-s0 random:resnet18@0"
for config in last:abnormal layer3:abnormal layer3:predicted; do
  layer=${config%%:*} target=${config##*:}
  tag=$layer$( [ "$target" = predicted ] && echo -predicted || true )
  out=runs/knee64-explain-$tag
  if [ ! -f $out/explain.json ]; then
    $M explain --runs $RUNS --images 8 --faithfulness-images 370 --layer $layer \
      --target $target --out $out > $D/knee64_explain_$tag.txt 2>&1
  fi
  # one panel is kept in docs/ (it shows 8 test images, CC BY 4.0, see the README); the others
  # stay in their run folders
  [ "$tag" = layer3 ] && cp $out/panel.png $D/knee64_panel_$tag.png
  cp $out/mean_maps.png $D/knee64_mean_maps_$tag.png
  for f in faithfulness.csv faithfulness_pairs.csv images.csv explain.json; do
    cp $out/$f $D/knee64_${tag}_$f
  done
done
echo done
