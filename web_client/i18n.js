// The interface's words in pt-BR (default), es and en; the choice is kept in localStorage.
const LANG_KEY = "duble_lang";
export const LANGS = {"pt-BR": "Português", es: "Español", en: "English"};

const D = {
  "pt-BR": {
    nav_home: "Início", nav_app: "Painel", nav_voices: "Vozes", nav_tts: "Estúdio", nav_vc: "Trocador de voz",
    nav_docs: "Para desenvolvedores", nav_logout: "Sair", language: "Idioma",
    tagline: "Sua voz ao vivo: texto vira fala enquanto é gerado, e o microfone sai em outra voz.",
    login_title: "Entrar", signup_title: "Criar conta", email: "E-mail", password: "Senha",
    password_hint: "Pelo menos 8 caracteres.", login_btn: "Entrar", signup_btn: "Criar conta",
    key_login_title: "Conta antiga, só com chave da API?", api_key: "Chave da API", key_login_btn: "Entrar com a chave",
    signed_up: "Conta criada! Você ganhou créditos grátis.", working: "Aguarde…",
    balance: "Saldo", credits: "créditos", plan: "Plano", minutes_of: "minutos de", buy: "Comprar",
    plans: "Planos", per_minute: "créditos por minuto", voices_up_to: "até {n} vozes",
    op_tts: "texto em voz", op_conversion: "voz ao vivo", op_tts_rvc: "texto em voz com RVC",
    plan_free: "Grátis", plan_basic: "Básico", plan_pro: "Pro",
    usage: "Uso nos últimos 30 dias", usage_day: "Por dia", usage_op: "Por operação", usage_tag: "Por campanha (tag)",
    no_usage: "Nenhum uso ainda.", seconds: "segundos", payments: "Pagamentos", no_payments: "Nenhum pagamento ainda.",
    date: "Data", amount: "Valor", status: "Situação", pay_redirect: "Indo para o Mercado Pago…",
    pay_approved: "Pagamento aprovado! Os créditos já estão na sua conta.",
    pay_pending: "Pagamento pendente. Os créditos entram assim que o Mercado Pago confirmar.",
    pay_rejected: "O pagamento não foi concluído. Nenhum valor foi cobrado.", pay_waiting: "Confirmando o pagamento…",
    pay_title: "Resultado do pagamento", back_to_app: "Voltar ao painel",
    st_approved: "aprovado", st_pending: "pendente", st_in_process: "em análise", st_rejected: "recusado",
    st_refunded: "reembolsado", st_cancelled: "cancelado", st_charged_back: "estornado",
    st_checkout_started: "iniciado", keys: "Chaves da API (para programas e OBS)", key_label: "Nome da chave",
    key_create: "Criar chave", key_revoke: "Revogar", key_revoked: "revogada", key_shown_once:
    "Copie agora: esta chave não aparece de novo.", no_keys: "Nenhuma chave.", set_password: "Senha de acesso",
    current_password: "Senha atual", new_password: "Nova senha", save_password: "Salvar senha",
    password_saved: "Senha salva.", no_password_yet: "Sua conta ainda não tem senha: crie uma para entrar pelo e-mail.",
    voices_title: "Suas vozes", no_voices: "Nenhuma voz ainda. Grave uma abaixo.", name: "Nome", duration: "Duração",
    play_ref: "Ouvir gravação", preview: "Ouvir a voz", rename: "Renomear", save: "Salvar", delete: "Excluir",
    confirm_delete: "Excluir esta voz? Não dá para desfazer.", deleted: "Voz excluída.", renamed: "Nome salvo.",
    new_voice: "Nova voz", read_this: "Leia este texto em voz alta, com calma:",
    sample_read: "Olá, pessoal! Hoje vamos testar a minha voz ao vivo. Eu falo com calma, bem perto do microfone, num lugar sem barulho, para a voz ficar bem clara.",
    sample_preview: "Oi, gente! Essa é a minha voz no Dublê.",
    rec_start: "Gravar", rec_stop: "Parar", rec_again: "Gravar de novo", rec_countdown: "Começa em {n}…",
    rec_recording: "Gravando… {s} s", rec_done: "Gravação pronta ({s} s). Ouça e envie, ou grave de novo.",
    choose_file: "Escolher arquivo", no_file_chosen: "Nenhum arquivo escolhido.", vc_click: "Clique em Começar.",
    level: "Nível do microfone", or_file: "Ou envie um arquivo de áudio", upload: "Enviar voz",
    uploading: "Enviando voz…", uploaded: "Voz \"{name}\" criada ({s} s de fala).", rec_need: "Grave ou escolha um arquivo primeiro.",
    reference_text: "O que é dito na gravação (opcional)",
    studio: "Estúdio: texto em voz", text: "Texto", voice: "Voz", base_voice: "voz base (sem clonagem)",
    voice_note: "Neste servidor (sem GPU) uma voz sua é uma voz base ajustada à sua (tom e timbre), não um clone; a clonagem usa os motores F5/RVC com GPU.",
    voice_lang: "o da voz", speed: "Velocidade", pitch: "Tom (semitons)", speak: "Falar", stop: "Parar",
    end_session: "Encerrar sessão", live_typing: "Falar enquanto digito (cada palavra segue na hora; Enter fala o resto)",
    text_ph: "Escreva aqui. Cada frase começa a tocar assim que termina.", obs_channel: "Canal OBS",
    play_here: "Tocar aqui também", obs_url: "URL para o OBS", obs_box: "Fonte de navegador do OBS (só ouve este canal; não gasta créditos)",
    ready: "Pronto.", speaking: "Falando…", session_open: "Sessão aberta.", listeners: "Sessão aberta; {n} fonte(s) OBS ouvindo.",
    stopped: "Parado.", finished: "Fim: {s} s de áudio.", first_audio: "Primeiro áudio em {ms} ms",
    download: "Baixar áudio (WAV)", history: "Histórico (neste navegador)", no_history: "Nada gerado ainda.",
    credits_left: "{c} créditos restantes", autostart_click: "Clique em Falar para começar.",
    vc_title: "Trocador de voz ao vivo", mic: "Microfone", output: "Saída de áudio", default_device: "padrão",
    noise: "Supressão de ruído", echo: "Cancelamento de eco", monitor: "Ouvir aqui", start: "Começar",
    in_level: "Entrada", out_level: "Saída", latency: "Atraso", credits_used: "Créditos usados",
    vc_idle: "Parado. Escolha a voz e clique em Começar.", vc_connecting: "Conectando…", vc_live: "Ao vivo.",
    sink_unsupported: "Este navegador não deixa escolher a saída.", login_needed: "Entre na sua conta primeiro.",
    docs_rest: "API REST (Swagger)", docs_protocol: "Protocolo WebSocket",
  },
  es: {
    nav_home: "Inicio", nav_app: "Panel", nav_voices: "Voces", nav_tts: "Estudio", nav_vc: "Cambiador de voz",
    nav_docs: "Para desarrolladores", nav_logout: "Salir", language: "Idioma",
    tagline: "Tu voz en vivo: el texto se vuelve voz mientras se genera, y el micrófono sale con otra voz.",
    login_title: "Entrar", signup_title: "Crear cuenta", email: "Correo", password: "Contraseña",
    password_hint: "Al menos 8 caracteres.", login_btn: "Entrar", signup_btn: "Crear cuenta",
    key_login_title: "¿Cuenta antigua, solo con clave de API?", api_key: "Clave de API", key_login_btn: "Entrar con la clave",
    signed_up: "¡Cuenta creada! Recibiste créditos gratis.", working: "Espera…",
    balance: "Saldo", credits: "créditos", plan: "Plan", minutes_of: "minutos de", buy: "Comprar",
    plans: "Planes", per_minute: "créditos por minuto", voices_up_to: "hasta {n} voces",
    op_tts: "texto a voz", op_conversion: "voz en vivo", op_tts_rvc: "texto a voz con RVC",
    plan_free: "Gratis", plan_basic: "Básico", plan_pro: "Pro",
    usage: "Uso en los últimos 30 días", usage_day: "Por día", usage_op: "Por operación", usage_tag: "Por campaña (tag)",
    no_usage: "Sin uso todavía.", seconds: "segundos", payments: "Pagos", no_payments: "Sin pagos todavía.",
    date: "Fecha", amount: "Monto", status: "Estado", pay_redirect: "Yendo a Mercado Pago…",
    pay_approved: "¡Pago aprobado! Los créditos ya están en tu cuenta.",
    pay_pending: "Pago pendiente. Los créditos llegan cuando Mercado Pago lo confirme.",
    pay_rejected: "El pago no se completó. No se cobró nada.", pay_waiting: "Confirmando el pago…",
    pay_title: "Resultado del pago", back_to_app: "Volver al panel",
    st_approved: "aprobado", st_pending: "pendiente", st_in_process: "en revisión", st_rejected: "rechazado",
    st_refunded: "reembolsado", st_cancelled: "cancelado", st_charged_back: "contracargo",
    st_checkout_started: "iniciado", keys: "Claves de API (para programas y OBS)", key_label: "Nombre de la clave",
    key_create: "Crear clave", key_revoke: "Revocar", key_revoked: "revocada", key_shown_once:
    "Cópiala ahora: esta clave no se vuelve a mostrar.", no_keys: "Sin claves.", set_password: "Contraseña de acceso",
    current_password: "Contraseña actual", new_password: "Nueva contraseña", save_password: "Guardar contraseña",
    password_saved: "Contraseña guardada.", no_password_yet: "Tu cuenta aún no tiene contraseña: crea una para entrar con el correo.",
    voices_title: "Tus voces", no_voices: "Aún no hay voces. Graba una abajo.", name: "Nombre", duration: "Duración",
    play_ref: "Escuchar grabación", preview: "Escuchar la voz", rename: "Renombrar", save: "Guardar", delete: "Eliminar",
    confirm_delete: "¿Eliminar esta voz? No se puede deshacer.", deleted: "Voz eliminada.", renamed: "Nombre guardado.",
    new_voice: "Nueva voz", read_this: "Lee este texto en voz alta, con calma:",
    sample_read: "¡Hola a todos! Hoy vamos a probar mi voz en vivo. Hablo con calma, cerca del micrófono, en un lugar sin ruido, para que la voz quede muy clara.",
    sample_preview: "¡Hola! Esta es mi voz en Dublê.",
    rec_start: "Grabar", rec_stop: "Detener", rec_again: "Grabar de nuevo", rec_countdown: "Empieza en {n}…",
    rec_recording: "Grabando… {s} s", rec_done: "Grabación lista ({s} s). Escúchala y envíala, o graba de nuevo.",
    choose_file: "Elegir archivo", no_file_chosen: "Ningún archivo elegido.", vc_click: "Haz clic en Empezar.",
    level: "Nivel del micrófono", or_file: "O envía un archivo de audio", upload: "Enviar voz",
    uploading: "Enviando voz…", uploaded: "Voz \"{name}\" creada ({s} s de habla).", rec_need: "Graba o elige un archivo primero.",
    reference_text: "Lo que se dice en la grabación (opcional)",
    studio: "Estudio: texto a voz", text: "Texto", voice: "Voz", base_voice: "voz base (sin clonar)",
    voice_note: "En este servidor (sin GPU) una voz tuya es una voz base ajustada a la tuya (tono y timbre), no un clon; la clonación usa los motores F5/RVC con GPU.",
    voice_lang: "el de la voz", speed: "Velocidad", pitch: "Tono (semitonos)", speak: "Hablar", stop: "Detener",
    end_session: "Cerrar sesión de voz", live_typing: "Hablar mientras escribo (cada palabra sale al instante; Enter habla el resto)",
    text_ph: "Escribe aquí. Cada frase empieza a sonar en cuanto termina.", obs_channel: "Canal OBS",
    play_here: "Reproducir aquí también", obs_url: "URL para OBS", obs_box: "Fuente de navegador de OBS (solo escucha este canal; no gasta créditos)",
    ready: "Listo.", speaking: "Hablando…", session_open: "Sesión abierta.", listeners: "Sesión abierta; {n} fuente(s) OBS escuchando.",
    stopped: "Detenido.", finished: "Fin: {s} s de audio.", first_audio: "Primer audio en {ms} ms",
    download: "Descargar audio (WAV)", history: "Historial (en este navegador)", no_history: "Nada generado todavía.",
    credits_left: "{c} créditos restantes", autostart_click: "Haz clic en Hablar para empezar.",
    vc_title: "Cambiador de voz en vivo", mic: "Micrófono", output: "Salida de audio", default_device: "predeterminado",
    noise: "Supresión de ruido", echo: "Cancelación de eco", monitor: "Escuchar aquí", start: "Empezar",
    in_level: "Entrada", out_level: "Salida", latency: "Retraso", credits_used: "Créditos usados",
    vc_idle: "Detenido. Elige la voz y haz clic en Empezar.", vc_connecting: "Conectando…", vc_live: "En vivo.",
    sink_unsupported: "Este navegador no permite elegir la salida.", login_needed: "Entra en tu cuenta primero.",
    docs_rest: "API REST (Swagger)", docs_protocol: "Protocolo WebSocket",
  },
  en: {
    nav_home: "Home", nav_app: "Dashboard", nav_voices: "Voices", nav_tts: "Studio", nav_vc: "Voice changer",
    nav_docs: "For developers", nav_logout: "Log out", language: "Language",
    tagline: "Your voice, live: text becomes speech while it is generated, and your microphone comes out in another voice.",
    login_title: "Log in", signup_title: "Sign up", email: "E-mail", password: "Password",
    password_hint: "At least 8 characters.", login_btn: "Log in", signup_btn: "Sign up",
    key_login_title: "Old account with only an API key?", api_key: "API key", key_login_btn: "Log in with the key",
    signed_up: "Account created! You got free credits.", working: "Please wait…",
    balance: "Balance", credits: "credits", plan: "Plan", minutes_of: "minutes of", buy: "Buy",
    plans: "Plans", per_minute: "credits per minute", voices_up_to: "up to {n} voices",
    op_tts: "text to speech", op_conversion: "live voice", op_tts_rvc: "text to speech with RVC",
    plan_free: "Free", plan_basic: "Basic", plan_pro: "Pro",
    usage: "Usage in the last 30 days", usage_day: "Per day", usage_op: "Per operation", usage_tag: "Per campaign (tag)",
    no_usage: "No usage yet.", seconds: "seconds", payments: "Payments", no_payments: "No payments yet.",
    date: "Date", amount: "Amount", status: "Status", pay_redirect: "Going to Mercado Pago…",
    pay_approved: "Payment approved! The credits are in your account.",
    pay_pending: "Payment pending. The credits arrive once Mercado Pago confirms it.",
    pay_rejected: "The payment did not go through. Nothing was charged.", pay_waiting: "Confirming the payment…",
    pay_title: "Payment result", back_to_app: "Back to the dashboard",
    st_approved: "approved", st_pending: "pending", st_in_process: "in review", st_rejected: "rejected",
    st_refunded: "refunded", st_cancelled: "cancelled", st_charged_back: "charged back",
    st_checkout_started: "started", keys: "API keys (for programs and OBS)", key_label: "Key name",
    key_create: "Create key", key_revoke: "Revoke", key_revoked: "revoked", key_shown_once:
    "Copy it now: this key is not shown again.", no_keys: "No keys.", set_password: "Password",
    current_password: "Current password", new_password: "New password", save_password: "Save password",
    password_saved: "Password saved.", no_password_yet: "Your account has no password yet: set one to log in by e-mail.",
    voices_title: "Your voices", no_voices: "No voices yet. Record one below.", name: "Name", duration: "Duration",
    play_ref: "Play recording", preview: "Hear the voice", rename: "Rename", save: "Save", delete: "Delete",
    confirm_delete: "Delete this voice? This cannot be undone.", deleted: "Voice deleted.", renamed: "Name saved.",
    new_voice: "New voice", read_this: "Read this text aloud, calmly:",
    sample_read: "Hello everyone! Today we are testing my voice live. I speak calmly, close to the microphone, in a quiet room, so the voice comes out clear.",
    sample_preview: "Hi everyone! This is my voice on Dublê.",
    rec_start: "Record", rec_stop: "Stop", rec_again: "Record again", rec_countdown: "Starting in {n}…",
    rec_recording: "Recording… {s} s", rec_done: "Recording ready ({s} s). Listen and upload, or record again.",
    choose_file: "Choose file", no_file_chosen: "No file chosen.", vc_click: "Click Start.",
    level: "Microphone level", or_file: "Or upload an audio file", upload: "Upload voice",
    uploading: "Uploading voice…", uploaded: "Voice \"{name}\" created ({s} s of speech).", rec_need: "Record or choose a file first.",
    reference_text: "What is said in the recording (optional)",
    studio: "Studio: text to speech", text: "Text", voice: "Voice", base_voice: "base voice (no cloning)",
    voice_note: "On this server (no GPU) one of your voices is a base voice adjusted toward yours (pitch and timbre), not a clone; cloning is the F5/RVC engines on a GPU.",
    voice_lang: "the voice's", speed: "Speed", pitch: "Pitch (semitones)", speak: "Speak", stop: "Stop",
    end_session: "End session", live_typing: "Speak while I type (each word goes out at once; Enter speaks the rest)",
    text_ph: "Type here. Each sentence starts playing as soon as it ends.", obs_channel: "OBS channel",
    play_here: "Also play here", obs_url: "URL for OBS", obs_box: "OBS browser source (hears this channel only; spends no credits)",
    ready: "Ready.", speaking: "Speaking…", session_open: "Session open.", listeners: "Session open; {n} OBS source(s) listening.",
    stopped: "Stopped.", finished: "Done: {s} s of audio.", first_audio: "First audio in {ms} ms",
    download: "Download audio (WAV)", history: "History (in this browser)", no_history: "Nothing generated yet.",
    credits_left: "{c} credits left", autostart_click: "Click Speak to start.",
    vc_title: "Live voice changer", mic: "Microphone", output: "Audio output", default_device: "default",
    noise: "Noise suppression", echo: "Echo cancellation", monitor: "Listen here", start: "Start",
    in_level: "Input", out_level: "Output", latency: "Delay", credits_used: "Credits used",
    vc_idle: "Stopped. Pick the voice and click Start.", vc_connecting: "Connecting…", vc_live: "Live.",
    sink_unsupported: "This browser cannot choose the output.", login_needed: "Log in first.",
    docs_rest: "REST API (Swagger)", docs_protocol: "WebSocket protocol",
  },
};

// Every error code the server sends, in words a streamer understands.
const E = {
  "pt-BR": {
    email_taken: "Já existe uma conta com este e-mail. Entre com sua senha.", invalid_credentials: "E-mail ou senha errados.",
    rate_limited: "Muitas tentativas. Espere um minuto e tente de novo.", login_unavailable: "Entrada indisponível agora. Tente em instantes.",
    invalid_request: "Confira os campos: algum valor não é válido.", unauthorized: "Sua sessão acabou ou a chave é inválida. Entre de novo.",
    not_logged_in: "Entre na sua conta primeiro.", csrf_failed: "A página ficou desatualizada. Recarregue e tente de novo.",
    current_password_required: "Digite a senha atual.", wrong_password: "A senha atual está errada.",
    api_key_limit_reached: "Limite de chaves atingido: revogue uma.", api_key_not_found: "Chave não encontrada.",
    invalid_audio: "Não deu para ler este áudio. Grave de novo ou envie outro arquivo (wav, mp3, ogg, webm, m4a).",
    silent_audio: "A gravação ficou em silêncio. Verifique o microfone e grave de novo.",
    audio_too_short: "Fala curta demais: grave pelo menos 5 segundos lendo o texto.",
    audio_too_long: "Gravação longa demais: no máximo 30 segundos de fala.", invalid_language: "Escolha um idioma da lista.",
    payload_too_large: "Arquivo grande demais (máximo 20 MB).", voice_limit_reached: "Seu plano chegou ao limite de vozes. Exclua uma ou mude de plano.",
    reference_text_required: "Escreva o que é dito na gravação.", voice_not_found: "Voz não encontrada.",
    unknown_plan: "Plano desconhecido.", payments_not_configured: "Os pagamentos ainda não estão ativos neste servidor. Fale com o suporte.",
    payment_provider_error: "O Mercado Pago não respondeu. Tente de novo em instantes.",
    insufficient_credits: "Seus créditos acabaram. Compre mais no Painel.", busy: "Servidor ocupado. Tente de novo em instantes.",
    channel_busy: "Este canal OBS já está em uso por outra fala.", rvc_unavailable: "Esta voz precisa de um recurso que não está ativo no servidor.",
    invalid_message: "O navegador enviou algo inválido. Recarregue a página.", no_file: "Grave ou escolha um arquivo primeiro.",
    network: "Sem conexão com o servidor. Verifique a internet.", closed: "A conexão caiu. Clique de novo para reconectar.",
    mic_denied: "O navegador bloqueou o microfone. Permita o acesso e tente de novo.", internal_error: "Erro no servidor. Tente de novo.",
    listen_token_limit_reached: "Limite de URLs do OBS atingido: apague uma.", invalid_range: "Período inválido.",
    session_limit_reached: "Muitas sessões abertas ao mesmo tempo.", not_found: "Não encontrado.",
  },
  es: {
    email_taken: "Ya existe una cuenta con este correo. Entra con tu contraseña.", invalid_credentials: "Correo o contraseña incorrectos.",
    rate_limited: "Demasiados intentos. Espera un minuto y vuelve a intentar.", login_unavailable: "Acceso no disponible ahora. Intenta en un momento.",
    invalid_request: "Revisa los campos: algún valor no es válido.", unauthorized: "Tu sesión terminó o la clave no es válida. Entra de nuevo.",
    not_logged_in: "Entra en tu cuenta primero.", csrf_failed: "La página quedó desactualizada. Recarga e intenta de nuevo.",
    current_password_required: "Escribe la contraseña actual.", wrong_password: "La contraseña actual es incorrecta.",
    api_key_limit_reached: "Límite de claves alcanzado: revoca una.", api_key_not_found: "Clave no encontrada.",
    invalid_audio: "No se pudo leer este audio. Graba de nuevo o envía otro archivo (wav, mp3, ogg, webm, m4a).",
    silent_audio: "La grabación quedó en silencio. Revisa el micrófono y graba de nuevo.",
    audio_too_short: "Habla demasiado corta: graba al menos 5 segundos leyendo el texto.",
    audio_too_long: "Grabación demasiado larga: máximo 30 segundos de habla.", invalid_language: "Elige un idioma de la lista.",
    payload_too_large: "Archivo demasiado grande (máximo 20 MB).", voice_limit_reached: "Tu plan llegó al límite de voces. Elimina una o cambia de plan.",
    reference_text_required: "Escribe lo que se dice en la grabación.", voice_not_found: "Voz no encontrada.",
    unknown_plan: "Plan desconocido.", payments_not_configured: "Los pagos aún no están activos en este servidor. Contacta al soporte.",
    payment_provider_error: "Mercado Pago no respondió. Intenta de nuevo en un momento.",
    insufficient_credits: "Se acabaron tus créditos. Compra más en el Panel.", busy: "Servidor ocupado. Intenta de nuevo en un momento.",
    channel_busy: "Este canal OBS ya está en uso.", rvc_unavailable: "Esta voz necesita un recurso que no está activo en el servidor.",
    invalid_message: "El navegador envió algo inválido. Recarga la página.", no_file: "Graba o elige un archivo primero.",
    network: "Sin conexión con el servidor. Revisa internet.", closed: "Se cayó la conexión. Haz clic de nuevo para reconectar.",
    mic_denied: "El navegador bloqueó el micrófono. Permite el acceso e intenta de nuevo.", internal_error: "Error en el servidor. Intenta de nuevo.",
    listen_token_limit_reached: "Límite de URLs de OBS alcanzado: borra una.", invalid_range: "Periodo inválido.",
    session_limit_reached: "Demasiadas sesiones abiertas a la vez.", not_found: "No encontrado.",
  },
  en: {
    email_taken: "An account with this e-mail exists. Log in with your password.", invalid_credentials: "Wrong e-mail or password.",
    rate_limited: "Too many attempts. Wait a minute and try again.", login_unavailable: "Log-in is unavailable right now. Try again shortly.",
    invalid_request: "Check the fields: a value is not valid.", unauthorized: "Your session ended or the key is invalid. Log in again.",
    not_logged_in: "Log in first.", csrf_failed: "The page is out of date. Reload and try again.",
    current_password_required: "Type the current password.", wrong_password: "The current password is wrong.",
    api_key_limit_reached: "Key limit reached: revoke one.", api_key_not_found: "Key not found.",
    invalid_audio: "This audio could not be read. Record again or upload another file (wav, mp3, ogg, webm, m4a).",
    silent_audio: "The recording is silent. Check the microphone and record again.",
    audio_too_short: "Too little speech: record at least 5 seconds reading the text.",
    audio_too_long: "Recording too long: at most 30 seconds of speech.", invalid_language: "Pick a language from the list.",
    payload_too_large: "File too large (20 MB at most).", voice_limit_reached: "Your plan's voice limit is reached. Delete one or upgrade.",
    reference_text_required: "Type what is said in the recording.", voice_not_found: "Voice not found.",
    unknown_plan: "Unknown plan.", payments_not_configured: "Payments are not enabled on this server yet. Contact support.",
    payment_provider_error: "Mercado Pago did not answer. Try again shortly.",
    insufficient_credits: "You ran out of credits. Buy more on the Dashboard.", busy: "Server busy. Try again shortly.",
    channel_busy: "This OBS channel is already in use.", rvc_unavailable: "This voice needs a feature that is not enabled on the server.",
    invalid_message: "The browser sent something invalid. Reload the page.", no_file: "Record or choose a file first.",
    network: "No connection to the server. Check the internet.", closed: "The connection dropped. Click again to reconnect.",
    mic_denied: "The browser blocked the microphone. Allow it and try again.", internal_error: "Server error. Try again.",
    listen_token_limit_reached: "OBS URL limit reached: delete one.", invalid_range: "Invalid period.",
    session_limit_reached: "Too many sessions open at once.", not_found: "Not found.",
  },
};

export function lang() {
  const chosen = localStorage.getItem(LANG_KEY);
  return chosen in D ? chosen : "pt-BR";
}

export function setLang(code) {
  if (code in D) localStorage.setItem(LANG_KEY, code);
}

export function t(key, vars = {}) {
  const text = D[lang()][key] ?? D["pt-BR"][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

export function errorText(err) {
  const code = err && err.code ? err.code : "internal_error";
  const known = E[lang()][code];
  if (known) return known;
  if (code === "payment_provider_error" || code.startsWith("http_5")) return E[lang()].internal_error;
  return `${E[lang()].internal_error} (${code})`;
}

export function applyI18n(root = document) {
  document.documentElement.lang = lang();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function num(value, digits = 2) {
  return new Intl.NumberFormat(lang(), {minimumFractionDigits: digits, maximumFractionDigits: digits}).format(value);
}

export function brl(centavos) {
  return new Intl.NumberFormat(lang(), {style: "currency", currency: "BRL"}).format(centavos / 100)
    .replace(/\u00a0/g, " ");
}

export function when(iso) {
  return new Intl.DateTimeFormat(lang(), {dateStyle: "short", timeStyle: "short"}).format(new Date(iso));
}
