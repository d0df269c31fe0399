// A confirmation in the page (a modal <dialog>, no window.confirm): says what is about to
// happen and how many annotations it touches, and resolves true only on the confirming
// button. Esc or "Cancel" resolve false.

/** Asks `question`; `confirmLabel` names the action ("Reject 120"); `items` are listed under it. */
export function confirmAction(question, confirmLabel, { detail = '', items = [] } = {}) {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.className = 'confirm';
    dialog.id = 'confirm-dialog';
    const text = document.createElement('p');
    text.id = 'confirm-text';
    text.textContent = question;
    const more = document.createElement('p');
    more.className = 'muted small';
    more.textContent = detail;
    more.hidden = !detail;
    const list = document.createElement('ul');
    list.id = 'confirm-items';
    list.className = 'confirm-items small';
    list.hidden = !items.length;
    for (const item of items) {
      const li = document.createElement('li');
      li.textContent = item;
      list.append(li);
    }
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.id = 'confirm-ok';
    ok.textContent = confirmLabel;
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.id = 'confirm-cancel';
    cancel.textContent = 'Cancel';
    const row = document.createElement('div');
    row.className = 'panel-row';
    row.append(ok, cancel);
    dialog.append(text, more, list, row);
    document.body.append(dialog);
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener('click', () => done(true));
    cancel.addEventListener('click', () => done(false));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      done(false);
    });
    dialog.showModal();
    cancel.focus(); // Enter does not confirm by accident
  });
}
