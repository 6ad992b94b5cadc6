"""The training stage: a training job (local process or SageMaker), its evaluation, and the model registry."""
