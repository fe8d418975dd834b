using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Vessel.Cli.Api;

/// <summary>Kestrel on a Unix socket, HTTP/1.1 only, handing every request to a <see cref="VmmController"/>. Bodies
/// are capped at Firecracker's default of 51200 bytes; no routing, MVC or reflection (NativeAOT).</summary>
public sealed class ApiServer : IAsyncDisposable
{
    public const int MaxBodyBytes = 51200;

    private readonly WebApplication _app;
    private readonly string _socketPath;

    private ApiServer(WebApplication app, string socketPath)
    {
        _app = app;
        _socketPath = socketPath;
    }

    /// <summary>Binds <paramref name="socketPath"/> (which must not exist) and starts serving.</summary>
    public static async Task<ApiServer> StartAsync(string socketPath, VmmController controller)
    {
        if (File.Exists(socketPath) || Directory.Exists(socketPath))
            throw CliException.Runtime($"{socketPath}: --api-sock: the path already exists (remove it first)");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.ListenUnixSocket(socketPath, listen => listen.Protocols = HttpProtocols.Http1);
        });
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        app.Run(context => Serve(context, controller));
        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw CliException.Runtime($"{socketPath}: --api-sock: cannot listen: {ex.Message}");
        }
        return new ApiServer(app, socketPath);
    }

    private static async Task Serve(HttpContext context, VmmController controller)
    {
        var request = context.Request;
        ApiResponse response;
        if (request.ContentLength > MaxBodyBytes)
        {
            response = TooLarge(request.ContentLength.Value);
        }
        else
        {
            var body = new MemoryStream();
            try
            {
                await request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
                response = controller.Handle(request.Method, request.Path.Value ?? "/", body.GetBuffer().AsSpan(0, (int)body.Length));
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                response = TooLarge(body.Length);
            }
        }
        context.Response.StatusCode = response.Status;
        if (response.Json is { } json)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(json, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static ApiResponse TooLarge(long size) =>
        ApiResponse.Fault($"Request payload with size {size} is larger than the limit of {MaxBodyBytes} allowed by server.");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        try
        {
            File.Delete(_socketPath);
        }
        catch (IOException)
        {
            // Best effort: the socket file is only a name.
        }
    }
}
