'use strict';
document.getElementById('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('signin-error');
  error.hidden = true;
  const token = document.getElementById('token').value.trim();
  try {
    const response = await fetch('/console/signin', {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({token})
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      error.textContent = 'Sign-in refused: ' + (body.error || response.status + ' ' + response.statusText);
      error.hidden = false;
      return;
    }
    window.location.assign('/');
  } catch (e) {
    error.textContent = 'The agent could not be reached: ' + e;
    error.hidden = false;
  }
});
