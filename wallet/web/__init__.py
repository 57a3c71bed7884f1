"""The wallet's local web pages: the member view (``passport ui``) and the desk kiosk
(``passport desk serve``), served by the wallet process on 127.0.0.1 only."""
