# The frontend image: nginx serving /static/ from the app image's collected files (with
# pre-compressed copies for gzip_static) and /media/ from the media volume (compose.yaml),
# and proxying everything else to the app service.
ARG PARITY_FRONTEND_IMAGE=nginx:stable
ARG LABBOOK_APP_IMAGE=labbook-app:dev
FROM ${LABBOOK_APP_IMAGE} AS app

FROM ${PARITY_FRONTEND_IMAGE}
RUN rm -f /etc/nginx/conf.d/default.conf
COPY --from=app /app/staticfiles/ /srv/labbook/static/
RUN find /srv/labbook/static -name '*.css' -exec gzip -k -9 {} +
COPY nginx.conf /etc/nginx/conf.d/labbook.conf
