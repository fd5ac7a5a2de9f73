"""The web console: server-rendered pages for the people who use Lodestar, Chinese first.

Pages are Jinja2 templates (``templates/``) with one stylesheet (``static/``), all served by
the service itself; no page needs JavaScript. People sign in with a user name and password
(``users``) into a server-side session (``sessions``); every page view and form post is in
the audit log under their subject and role, like any API call. ``mount.install_console``
adds it all to the app.
"""
