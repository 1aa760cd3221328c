"""Flask extension objects, bound to an app in :func:`dashboard.create_app` (``init_app``)."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

# async_mode is fixed to "threading" (set again in init_app): eventlet would be
# picked silently if installed, and it is unmaintained. Production serving is
# gunicorn's threaded worker (dashboard/serve.py).
socketio = SocketIO(async_mode="threading")
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
