"""Training entry points behind ``ojala train``, ``ojala finetune`` and ``ojala expand``; configs in configs/."""
