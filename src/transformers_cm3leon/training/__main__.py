# Copyright 2026 The transformers-cm3leon developers.
# Licensed under the Apache License, Version 2.0.
"""`python -m transformers_cm3leon.training pretrain|sft|vq --config file.yaml`, the form `torchrun -m` and
`accelerate launch -m` run on every process."""

import sys

from .cli import main

sys.exit(main())
