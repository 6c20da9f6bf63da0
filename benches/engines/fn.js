function handler(event) {
  var request = event.request;
  request.headers['x-added'] = { value: 'yes' };
  return request;
}
