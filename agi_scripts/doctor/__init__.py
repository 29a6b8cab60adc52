"""``respectline doctor``: checks a live Asterisk the way an admin needs it checked.

Over AMI (and the Asterisk CLI through AMI ``Command`` where AMI itself cannot tell) it checks the
modules Respectline needs, the generated contexts, codes, queues and hold classes, every sound file
Asterisk will be asked to play, that the FastAGI server answers where the dialplan points, and that
the server's own AMI account may do what the server does with it. Each problem comes with the line
or command that fixes it.
"""
