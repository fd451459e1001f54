"""The training loop and what it needs: compiled step + loop (``loop``), atomic checkpoints and resume
(``checkpoint``), lr schedules, optimizers and parameter groups, progress lines, mixed precision (``amp``) and the
periodic verification callback."""
