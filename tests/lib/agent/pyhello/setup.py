from setuptools import setup

setup(name="corral-hello", version="1.0", py_modules=["corral_hello"])
