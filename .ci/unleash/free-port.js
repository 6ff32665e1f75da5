// Prints a free loopback TCP port (the kernel picks it).
'use strict';
const s = require('net').createServer();
s.listen(0, '127.0.0.1', () => {
  console.log(s.address().port);
  s.close();
});
