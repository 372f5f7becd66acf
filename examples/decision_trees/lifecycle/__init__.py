"""sagemaker_lifecycle.py's parts: project (what it takes from this project), storage, backends
(SageMaker or SDK local mode) and steps. The script is the command line over them."""
